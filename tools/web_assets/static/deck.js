/* Course decks: start reveal.js and fit every slide into its frame.
 *
 * A slide whose content is taller or wider than the frame (1280x720 by
 * default) is shrunk as a whole, down to `minScale`; below that it keeps
 * `minScale` and scrolls. Code that is wider than the frame widens the slide
 * before it shrinks, so no line is cut off. Each slide is fitted when it is
 * shown (hidden slides have no layout to measure), and the numbers are kept
 * on the <section> for the browser tests and for authors:
 *   data-natural-height / data-natural-width  size of the content at full scale
 *   data-fit-scale                             the scale it is shown at
 *   data-fits                                  "false" when even minScale is not enough
 * courseDeck.ready is a promise that resolves once reveal.js, MathJax and
 * every image have finished, with the current slide fitted.
 */
(function () {
  "use strict";

  var options = {width: 1280, height: 720, minScale: 0.6};

  function content(section) {
    var inner = section.querySelector(":scope > .course-fit");
    if (!inner) {
      inner = document.createElement("div");
      inner.className = "course-fit";
      while (section.firstChild) inner.appendChild(section.firstChild);
      section.appendChild(inner);
    }
    return inner;
  }

  // Horizontal overflow hidden inside boxes that clip (code cells, outputs).
  function clippedWidth(inner) {
    var worst = 0;
    inner.querySelectorAll("pre, table, img, .jp-OutputArea-output, .jp-InputArea-editor").forEach(function (el) {
      worst = Math.max(worst, el.scrollWidth - el.clientWidth);
    });
    return worst;
  }

  function layOut(inner, scale) {
    inner.style.width = (options.width / scale) + "px";
    inner.style.transform = scale < 1 ? "scale(" + scale + ")" : "";
    inner.style.marginBottom = "";
    return {height: inner.scrollHeight, width: Math.max(inner.scrollWidth, inner.offsetWidth) + clippedWidth(inner)};
  }

  function fits(size, scale) {
    return size.height * scale <= options.height + 0.5 && size.width * scale <= options.width + 0.5;
  }

  function fit(section) {
    if (!section || section.querySelector("section")) return;
    var inner = content(section);
    var natural = layOut(inner, 1);
    var scale = 1;
    if (!fits(natural, 1)) {
      var lo = options.minScale, hi = 1;
      if (fits(layOut(inner, lo), lo)) {
        for (var i = 0; i < 10; i++) {  // the largest scale that fits, to 0.1%
          var mid = (lo + hi) / 2;
          if (fits(layOut(inner, mid), mid)) lo = mid; else hi = mid;
        }
        scale = lo;
      } else {
        scale = options.minScale;
      }
    }
    var size = layOut(inner, scale);
    var ok = fits(size, scale);
    // The layout box keeps its unscaled height: pull the space below it back in.
    if (scale < 1) inner.style.marginBottom = (-size.height * (1 - scale)) + "px";
    section.classList.toggle("course-scroll", !ok);
    section.dataset.naturalHeight = Math.round(natural.height);
    section.dataset.naturalWidth = Math.round(natural.width);
    section.dataset.fitScale = scale.toFixed(3);
    section.dataset.fits = String(ok);
  }

  function fitCurrent() {
    fit(Reveal.getCurrentSlide());
  }

  function loaded() {
    return new Promise(function (resolve) {
      if (document.readyState === "complete") resolve();
      else window.addEventListener("load", function () { resolve(); });
    });
  }

  function mathDone() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) return MathJax.startup.promise;
    return Promise.resolve();
  }

  function start(settings) {
    Object.assign(options, settings || {});
    var ready = Reveal.initialize({
      width: options.width,
      height: options.height,
      margin: 0.04,
      center: false,
      hash: true,
      controls: true,
      progress: true,
      slideNumber: "c/t",
      transition: "none",
      plugins: window.RevealNotes ? [RevealNotes] : []
    });
    Reveal.on("slidechanged", fitCurrent);
    Reveal.on("resize", fitCurrent);
    window.courseDeck.ready = Promise.all([ready, loaded()]).then(mathDone).then(function () {
      fitCurrent();
      return Reveal;
    });
    return window.courseDeck.ready;
  }

  window.courseDeck = {start: start, fit: fit, options: options};
})();
