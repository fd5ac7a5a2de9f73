// The auditor's queue: asks /console/alerts-feed every few seconds for warnings written
// since the page opened and puts them at the top of the table, marked as new. The page works
// without this script (reload it for new warnings). No innerHTML: every cell is text.
(function () {
  "use strict";
  var table = document.getElementById("queue");
  var notice = document.getElementById("new-alerts");
  if (!table || !notice || !window.fetch) {
    return;
  }
  var body = table.tBodies[0];
  var feed = table.getAttribute("data-feed");
  var cursor = table.getAttribute("data-cursor") || "";
  var seconds = parseFloat(table.getAttribute("data-poll-seconds")) || 15;
  var template = table.getAttribute("data-notice") || "{n}";
  var seen = {};
  var added = 0;
  var links = body.querySelectorAll("a.alert-link");
  for (var i = 0; i < links.length; i++) {
    seen[links[i].getAttribute("href")] = true;
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) {
      td.className = className;
    }
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function rowOf(alert) {
    var row = document.createElement("tr");
    row.className = "new-alert";
    row.setAttribute("data-alert-id", alert.alert_id);
    var level = document.createElement("span");
    level.className = "level level-" + alert.level;
    level.textContent = alert.level_label;
    cell(row, "").appendChild(level);
    cell(row, alert.probability, "num");
    var link = document.createElement("a");
    link.className = "alert-link";
    link.href = alert.url;
    link.textContent = alert.ocid;
    cell(row, "").appendChild(link);
    cell(row, alert.buyer_id);
    cell(row, alert.suppliers);
    cell(row, alert.decided);
    cell(row, alert.flags);
    cell(row, alert.status);
    return row;
  }

  function show(alerts) {
    var empty = document.getElementById("queue-empty");
    for (var i = alerts.length - 1; i >= 0; i--) {
      var alert = alerts[i];
      if (seen[alert.url]) {
        continue;
      }
      seen[alert.url] = true;
      if (empty) {
        empty.parentNode.removeChild(empty);
        empty = null;
      }
      body.insertBefore(rowOf(alert), body.firstChild);
      added += 1;
    }
    if (added > 0) {
      notice.textContent = template.replace("{n}", String(added));
      notice.hidden = false;
    }
  }

  function poll() {
    var url = feed + (feed.indexOf("?") >= 0 ? "&" : "?") + "after=" + encodeURIComponent(cursor);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          return null; // signed out, timed out or refused: stop asking
        }
        if (!response.ok) {
          throw new Error("feed answered " + response.status);
        }
        return response.json();
      })
      .then(function (answer) {
        if (answer === null) {
          return;
        }
        cursor = answer.cursor || cursor;
        show(answer.alerts || []);
        window.setTimeout(poll, seconds * 1000);
      })
      .catch(function () {
        window.setTimeout(poll, 4 * seconds * 1000); // the service restarting: ask later
      });
  }

  window.setTimeout(poll, seconds * 1000);
})();
