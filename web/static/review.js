// Review comments on a pull request's files tab, without reloading the page to open a form.
//
// Each diff line has a "+" link; without script it reloads the page with a comment form under the line. Here a
// click opens that form in place (cloned from <template id="line-comment-template">), a shift-click on a second
// "+" of the same file and side selects the range between, and "Insert a suggestion" puts the selected lines in a
// ```suggestion block for the author to apply with one click.
(function () {
  "use strict";
  var template = document.getElementById("line-comment-template");
  var anchor = null; // the last clicked line: {table, side, line}

  function cellsOf(table, side, line) {
    return table.querySelectorAll('td.code[data-side="' + side + '"][data-line="' + line + '"]');
  }

  function lineText(cell) {
    var text = "";
    cell.childNodes.forEach(function (node) {
      if (node.nodeType === 1 && node.classList.contains("line-comment")) return;
      text += node.textContent;
    });
    return text.slice(1); // the +, - or space of the diff
  }

  function clearSelection() {
    document.querySelectorAll("tr.line-selected").forEach(function (row) { row.classList.remove("line-selected"); });
  }

  function select(table, side, start, end) {
    clearSelection();
    for (var n = start; n <= end; n++) {
      cellsOf(table, side, n).forEach(function (cell) { cell.parentElement.classList.add("line-selected"); });
    }
  }

  function selectedLines(form) {
    var table = form.closest("table.reviewable");
    if (!table) {
      var id = form.dataset.table;
      table = id ? document.querySelector('table.reviewable[data-n="' + id + '"]') : null;
    }
    if (!table) return [];
    var side = form.elements.side.value;
    var end = parseInt(form.elements.line.value, 10);
    var start = parseInt(form.elements.start_line.value, 10) || end;
    var lines = [];
    for (var n = start; n <= end; n++) {
      var cells = cellsOf(table, side, n);
      if (cells.length) lines.push(lineText(cells[0]));
    }
    return lines;
  }

  function insertSuggestion(form) {
    var area = form.elements.body;
    var block = "```suggestion\n" + selectedLines(form).join("\n") + "\n```\n";
    var at = area.selectionStart || 0;
    var before = area.value.slice(0, at);
    if (before && !before.endsWith("\n")) block = "\n" + block;
    area.value = before + block + area.value.slice(area.selectionEnd || at);
    area.focus();
  }

  function wire(form) {
    var button = form.querySelector(".insert-suggestion");
    if (button && form.elements.side.value === "right") {
      button.hidden = false;
      button.addEventListener("click", function () { insertSuggestion(form); });
    }
    var startInput = form.elements.start_line;
    startInput.addEventListener("change", function () {
      var table = form.closest("table.reviewable");
      var end = parseInt(form.elements.line.value, 10);
      var start = parseInt(startInput.value, 10) || end;
      if (table && start <= end) select(table, form.elements.side.value, start, end);
    });
  }

  function openForm(table, side, start, end) {
    document.querySelectorAll("tr.js-form-row").forEach(function (row) { row.remove(); });
    var cells = cellsOf(table, side, end);
    if (!cells.length || !template) return;
    var row = cells[0].parentElement;
    // Put the form after the line's own comment rows, as the page does.
    while (row.nextElementSibling && row.nextElementSibling.classList.contains("comment-row")) {
      row = row.nextElementSibling;
    }
    var formRow = document.createElement("tr");
    formRow.className = "comment-row form-row js-form-row";
    var td = document.createElement("td");
    td.colSpan = table.classList.contains("split") ? 4 : 3;
    td.appendChild(template.content.cloneNode(true));
    formRow.appendChild(td);
    row.after(formRow);
    var form = td.querySelector("form");
    form.elements.path.value = table.dataset.path;
    form.elements.side.value = side;
    form.elements.line.value = String(end);
    form.elements.start_line.value = start < end ? String(start) : "";
    form.elements.start_line.max = String(end);
    form.querySelector(".line-comment-end").textContent = String(end);
    var cancel = form.querySelector(".line-comment-cancel");
    cancel.addEventListener("click", function (event) {
      event.preventDefault();
      formRow.remove();
      clearSelection();
    });
    wire(form);
    select(table, side, start, end);
    form.elements.body.focus();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.line-comment") : null;
    if (!link) return;
    var table = link.closest("table.reviewable");
    if (!table) return;
    event.preventDefault();
    var side = link.dataset.side;
    var line = parseInt(link.dataset.line, 10);
    var start = line;
    var end = line;
    if (event.shiftKey && anchor && anchor.table === table && anchor.side === side) {
      start = Math.min(anchor.line, line);
      end = Math.max(anchor.line, line);
    } else {
      anchor = {table: table, side: side, line: line};
    }
    openForm(table, side, start, end);
  });

  // A form the server opened (no script when the link was followed, or a form sent back with an error).
  document.querySelectorAll("table.reviewable form.line-comment-form").forEach(wire);
})();
