// Notebook 6 front-end hook for the browser check: once the kernel is
// ready, run every cell (as a person pressing "Run All" would).
define(['base/js/namespace', 'base/js/events'], function (Jupyter, events) {
  events.on('kernel_ready.Kernel', function () {
    if (!window.__netssmRan) {
      window.__netssmRan = true;
      Jupyter.notebook.execute_all_cells();
    }
  });
});
