// The console's only script: draws Mermaid diagrams. No inline script exists (the CSP forbids
// it); htmx handles polling from attributes.
(function () {
  "use strict";

  let drawn = 0;

  async function drawDiagrams(root) {
    if (typeof mermaid === "undefined") {
      return;
    }
    const boxes = root.querySelectorAll("[data-mermaid]:not([data-drawn])");
    for (const box of boxes) {
      box.setAttribute("data-drawn", "");
      const target = box.querySelector(".diagram");
      // textContent: the source as text, exactly as the server escaped it into the page.
      const source = box.querySelector("pre").textContent;
      try {
        drawn += 1;
        const { svg } = await mermaid.render("dwarf-diagram-" + drawn, source);
        // Mermaid's output, sanitized by Mermaid itself under securityLevel "strict".
        target.innerHTML = svg;
        box.classList.add("drawn");
      } catch (err) {
        target.textContent = "The diagram could not be drawn: " + (err && err.message ? err.message : err);
        box.classList.add("failed");
      }
    }
  }

  function start() {
    if (typeof mermaid !== "undefined") {
      mermaid.initialize({
        startOnLoad: false,
        securityLevel: "strict",
        theme: "neutral",
        flowchart: { htmlLabels: false },
      });
    }
    drawDiagrams(document);
    document.body.addEventListener("htmx:afterSwap", function (event) {
      drawDiagrams(event.target);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
