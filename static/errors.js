// transport-lab: records the page's script errors, failed loads and Content-Security-Policy
// violations in `window.tlErrors` (and their count in <html data-errors>). Loaded first, before
// every other script, so nothing escapes it. Browsers whose WebDriver cannot read the console
// (Firefox's geckodriver) are checked through it, and anyone can read it in the devtools console.
'use strict';

(function () {
  window.tlErrors = [];
  function record(what) {
    window.tlErrors.push(String(what));
    document.documentElement.dataset.errors = String(window.tlErrors.length);
  }
  window.addEventListener('error', (e) => {
    record(e.message || ('failed to load ' + ((e.target && (e.target.src || e.target.href)) || 'a resource')));
  }, true);
  window.addEventListener('unhandledrejection', (e) => {
    record('unhandled rejection: ' + ((e.reason && e.reason.message) || e.reason));
  });
  document.addEventListener('securitypolicyviolation', (e) => {
    record('CSP blocked ' + (e.blockedURI || 'inline code') + ' (' + e.violatedDirective + ')');
  });
})();
