/* Where the widget manager finds its fonts (Font Awesome, for the widgets' icons).
 *
 * @jupyter-widgets/html-manager's embed-amd.js is a webpack bundle that takes its public path
 * from its require.js module URL, "@jupyter-widgets/html-manager/dist/...", resolved against the
 * page: every widget page asked for <page folder>/@jupyter-widgets/html-manager/dist/*.woff2 and
 * logged six failed loads. The fonts ship in _static/widgets/ (book/_assets/widgets/). This file,
 * loaded before require.js (_config.yml: nb_ipywidgets_js), gives require.js that folder as the
 * module's path, found from this script's own URL (it sits in _static/). Written for this book.
 */
(function () {
  "use strict";
  var me = document.currentScript && document.currentScript.src;
  if (!me) {
    return;
  }
  var staticDir = me.split("?")[0].replace(/[^/]*$/, "");   // .../_static/
  var config = (window.require && typeof window.require === "object") ? window.require : {};
  config.paths = config.paths || {};
  config.paths["@jupyter-widgets/html-manager/dist"] = staticDir + "widgets";
  window.require = config;
})();
