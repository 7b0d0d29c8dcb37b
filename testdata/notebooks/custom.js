// Notebook 6 front-end hook for notebooks.TestBrowserQuickstart: once the
// kernel is ready, run every cell, as a person pressing "Run All" would.
//
// Headless Chromium's --virtual-time-budget runs the page's clock fast and
// only pauses it while network fetches are pending, so a page waiting on a
// kernel over its websocket would be captured too early. When the page URL
// has ?hold=URL, the page keeps one fetch of URL (a test server that answers
// after a short delay) pending until every code cell has run (at most 400
// fetches), which holds the virtual clock in step with the kernel.
define(['base/js/namespace', 'base/js/events'], function (Jupyter, events) {
  var hold = new URLSearchParams(window.location.search).get('hold');
  function busy() {
    if (!window.__netssmRan || !Jupyter.notebook) {
      return true;
    }
    return Jupyter.notebook.get_cells().some(function (c) {
      var n = c.input_prompt_number;
      return c.cell_type === 'code' && (n === '*' || n === undefined || n === null);
    });
  }
  function holdWhileBusy(n) {
    if (!hold || n >= 400 || !busy()) {
      return;
    }
    var next = function () { holdWhileBusy(n + 1); };
    fetch(hold, { mode: 'cors', cache: 'no-store' }).then(next, next);
  }
  holdWhileBusy(0);
  events.on('kernel_ready.Kernel', function () {
    if (!window.__netssmRan) {
      window.__netssmRan = true;
      Jupyter.notebook.execute_all_cells();
    }
  });
});
