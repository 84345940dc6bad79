/* MathJax 2's MathJax.Hub.Queue for the widget manager, on top of the book's MathJax 3.
 *
 * @jupyter-widgets/html-manager 1.0.6 typesets widget labels with
 *   window.MathJax !== undefined && MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])
 * (MathJax 2's API). The book ships MathJax 3, which has no MathJax.Hub, so every page with a
 * widget threw "Cannot read properties of undefined (reading 'Queue')". This file, loaded before
 * the widget manager (_config.yml: nb_ipywidgets_js), gives whichever MathJax object the page
 * ends up with a Hub whose Queue runs MathJax 3's typesetPromise on the element once MathJax has
 * started. MathJax 3 replaces window.MathJax when it loads, so the Hub is (re)attached by a
 * property setter, whatever the order of the scripts. Written for this book; same license as
 * the book's code.
 */
(function () {
  "use strict";
  function typeset(elements) {
    var mj = window.MathJax;
    if (!mj || !mj.startup || !mj.startup.promise) {
      return;
    }
    mj.startup.promise
      .then(function () {
        return mj.typesetPromise ? mj.typesetPromise(elements) : null;
      })
      .catch(function () { /* a label MathJax cannot typeset stays as text */ });
  }
  var hub = {
    Queue: function () {
      for (var i = 0; i < arguments.length; i++) {
        var job = arguments[i];
        if (Array.isArray(job) && job[0] === "Typeset") {
          typeset(job[2] ? [job[2]] : undefined);
        } else if (typeof job === "function") {
          try { job(); } catch (err) { /* as MathJax 2: a failing callback ends its job */ }
        }
      }
    },
    Typeset: function (element) { typeset(element ? [element] : undefined); },
    Config: function () {},
    Register: { StartupHook: function () {}, MessageHook: function () {} }
  };
  function attach(mj) {
    // only a loaded MathJax 3 (it has a version); a configuration object is left alone
    if (mj && typeof mj === "object" && mj.version && !mj.Hub) {
      try { mj.Hub = hub; } catch (err) { /* frozen: nothing to do */ }
    }
  }
  var current = window.MathJax;
  attach(current);
  try {
    Object.defineProperty(window, "MathJax", {
      configurable: true,
      enumerable: true,
      get: function () { return current; },
      set: function (value) { current = value; attach(value); }
    });
  } catch (err) {
    // cannot trap the global: attach once the page has loaded its scripts
    document.addEventListener("DOMContentLoaded", function () { attach(window.MathJax); });
  }
})();
