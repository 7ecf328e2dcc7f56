/* kubetune: draw a study's figures (the JSON of kubetune.figures.StudyFigures.to_json) with
 * plotly.js. The static report (`kubetune report`) and the live dashboard share this file:
 * `kubetune.render(root, study)` draws a study into `root`, and called again with a newer
 * study it updates the same plots in place (Plotly.react), so a live page does not flicker.
 * It resolves once every plot is drawn and records the time in `window.kubetuneDrawnAt`
 * (milliseconds since the page started), which the browser tests and the benchmark read.
 * `kubetune.draw(root, figures)` draws a list of figures alone (the dashboard's trial page). */
(function () {
  "use strict";

  var FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  var BASE_LAYOUT = {
    autosize: true,
    height: 380,
    margin: { l: 70, r: 30, t: 30, b: 55 },
    font: { family: FONT, size: 12, color: "#212529" },
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#f8f9fa",
    legend: { orientation: "h", y: 1.02, yanchor: "bottom", x: 1, xanchor: "right" }
  };
  var CONFIG = { responsive: true, displaylogo: false };

  // Every axis: no zero line across the data, room for its labels.
  function withAxisDefaults(layout) {
    Object.keys(layout).forEach(function (key) {
      if (/^[xy]axis\d*$/.test(key)) {
        layout[key] = Object.assign({ zeroline: false, automargin: true }, layout[key]);
      }
    });
    return layout;
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function drawOverview(overview) {
    var head = element("header", "kt-overview");
    head.appendChild(element("h1", null, overview.name));
    var facts = element("dl", "kt-facts");
    overview.facts.concat(overview.result).forEach(function (pair) {
      facts.appendChild(element("dt", null, pair[0]));
      facts.appendChild(element("dd", null, pair[1]));
    });
    head.appendChild(facts);
    return head;
  }

  function drawTable(table) {
    var section = element("section", "kt-section kt-table");
    section.dataset.key = table.key;
    section.appendChild(element("h2", null, table.title));
    if (table.note) section.appendChild(element("p", "kt-note", table.note));
    if (table.rows.length === 0) return section;
    var grid = element("table");
    var header = element("tr");
    table.columns.forEach(function (c) { header.appendChild(element("th", null, c)); });
    grid.appendChild(header);
    table.rows.forEach(function (row) {
      var line = element("tr");
      row.forEach(function (cell) { line.appendChild(element("td", null, cell)); });
      grid.appendChild(line);
    });
    section.appendChild(grid);
    return section;
  }

  function plotSection(root, figure) {
    var section = root.querySelector('section[data-key="' + figure.key + '"]');
    if (!section) {
      section = element("section", "kt-section kt-plot");
      section.dataset.key = figure.key;
      section.appendChild(element("h2"));
      section.appendChild(element("p", "kt-note"));
      section.appendChild(element("div", "kt-figure"));
      root.appendChild(section);
    }
    section.querySelector("h2").textContent = figure.title;
    var note = section.querySelector(".kt-note");
    note.textContent = figure.note || "";
    note.hidden = !figure.note;
    return section.querySelector(".kt-figure");
  }

  // Each figure in its own section of root (made on the first call, updated after);
  // resolves once all are drawn.
  function draw(root, figures) {
    var drawn = figures.map(function (figure) {
      var layout = withAxisDefaults(Object.assign({}, BASE_LAYOUT, figure.layout));
      return Plotly.react(plotSection(root, figure), figure.data, layout, CONFIG);
    });
    return Promise.all(drawn).then(function () {
      window.kubetuneDrawnAt = performance.now();
      root.dataset.drawn = "true";
    });
  }

  function render(root, study) {
    var old = root.querySelector(".kt-overview");
    var head = drawOverview(study.overview);
    if (old) root.replaceChild(head, old); else root.insertBefore(head, root.firstChild);
    var drawn = draw(root, study.figures);
    root.querySelectorAll(".kt-table").forEach(function (t) { t.remove(); });
    study.tables.forEach(function (table) { root.appendChild(drawTable(table)); });
    return drawn;
  }

  // render: a whole study (the report); draw: some figures (the dashboard's trial page).
  window.kubetune = { render: render, draw: draw };
})();
