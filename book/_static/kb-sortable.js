// Click a header of a table.kb-sortable to sort by that column (numbers numerically); again to reverse.
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.kb-sortable")) {
    const headers = table.querySelectorAll("thead th");
    headers.forEach((th, col) => {
      th.style.cursor = "pointer";
      th.title = "sort";
      th.addEventListener("click", () => {
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        const asc = th.dataset.order !== "asc";
        headers.forEach((h) => delete h.dataset.order);
        th.dataset.order = asc ? "asc" : "desc";
        const key = (row) => row.cells[col].textContent.trim();
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          const nx = parseFloat(x), ny = parseFloat(y);
          const cmp = !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y, "zh");
          return asc ? cmp : -cmp;
        });
        rows.forEach((r) => body.appendChild(r));
      });
    });
  }
});
