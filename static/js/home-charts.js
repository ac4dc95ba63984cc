/* The home page's charts (templates/registry/includes/bar_chart.html). Each <canvas data-chart> is drawn
   from the JSON script element it names (rows of {label, value}) as horizontal bars, with both axes titled,
   each bar's value written at its end and a legend naming the series. The table under each chart keeps the
   same figures for screen readers and for readers without script. A file of its own: the CSP forbids
   inline script. */
(function () {
  "use strict";
  if (typeof Chart === "undefined") {
    return;
  }
  var number = new Intl.NumberFormat(document.documentElement.lang || "zh-Hans");
  var ink = "#1d2a24";
  var green = "#1f6b45";

  // A long category (a district's full name) shortened on the axis; the tooltip and the table say it all.
  function short(label) {
    return label.length > 14 ? label.slice(0, 13) + "…" : label;
  }

  // Each bar's value, written just past its end.
  var barValues = {
    id: "barValues",
    afterDatasetsDraw: function (chart) {
      var context = chart.ctx;
      var values = chart.data.datasets[0].data;
      context.save();
      context.fillStyle = ink;
      context.font = "12px " + Chart.defaults.font.family;
      context.textBaseline = "middle";
      chart.getDatasetMeta(0).data.forEach(function (bar, index) {
        context.fillText(number.format(values[index]), bar.x + 4, bar.y);
      });
      context.restore();
    }
  };

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) {
      return;
    }
    var rows = JSON.parse(source.textContent);
    // Room for the axes, the legend and each bar (set through the DOM: the CSP forbids inline styles).
    canvas.parentElement.style.height = Math.max(12, 7 + rows.length * 2.5) + "rem";
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map(function (row) { return row.label; }),
        datasets: [{
          label: canvas.dataset.series,
          data: rows.map(function (row) { return row.value; }),
          backgroundColor: green,
          maxBarThickness: 28
        }]
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        layout: { padding: { right: 64 } },
        color: ink,
        scales: {
          x: {
            beginAtZero: true,
            title: { display: true, text: canvas.dataset.valueAxis, color: ink },
            ticks: { color: ink, callback: function (value) { return number.format(value); } }
          },
          y: {
            title: { display: true, text: canvas.dataset.categoryAxis, color: ink },
            ticks: { color: ink, callback: function (value) { return short(this.getLabelForValue(value)); } }
          }
        },
        plugins: {
          legend: { display: true, position: "bottom", labels: { color: ink } },
          tooltip: {
            callbacks: {
              label: function (item) { return item.dataset.label + ": " + number.format(item.parsed.x); }
            }
          }
        }
      },
      plugins: [barValues]
    });
    // Drawn: the table stays for screen readers only.
    var table = canvas.closest("figure").querySelector("table");
    if (table) {
      table.classList.add("visually-hidden");
    }
  });
})();
