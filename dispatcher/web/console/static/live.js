// Live updates of the announcement pages (the pages work without it: they show the numbers
// as of the load and a "Refresh" link). A file, not an inline script: the CSP forbids those.
//
// [data-live-progress data-url data-poll-ms]: asks the JSON every poll-ms and puts each
//   [data-field=KEY] text, the <progress> value and the channel table in place; the status
//   region [data-live-announce] hears only the milestone when it changes. Stops when done.
// [data-live-list data-url data-refresh-ms]: fetches the list fragment and replaces each
//   family's section with its new version, except one a person is using (focus inside, or
//   something typed or chosen): that one is left as it is. Families no longer listed go.

const hidden = (selector, root, value) => {
  for (const element of root.querySelectorAll(selector)) element.hidden = value;
};

const showRunning = (root) => {
  const scope = root.closest("main") || document;
  hidden("[data-live-static]", scope, true);
  hidden("[data-live-running]", scope, false);
};

const showStatic = (root) => {
  const scope = root.closest("main") || document;
  hidden("[data-live-static]", scope, false);
  hidden("[data-live-running]", scope, true);
};

const later = (callback, ms) => window.setTimeout(callback, ms);

async function getJson(url) {
  const response = await fetch(url, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
    cache: "no-store",
  });
  if (!response.ok) throw new Error(`status ${response.status}`);
  return response.json();
}

function cell(tag, className, text) {
  const element = document.createElement(tag);
  element.className = className;
  element.textContent = text;
  return element;
}

// The table has a column per channel and a row per group of messages ("Sent", ...).
function fillChannels(table, channels) {
  if (!channels.length) return;
  const groups = (table.dataset.columns || "")
    .split("|")
    .filter(Boolean)
    .map((pair) => pair.split(":"));
  groups.push(["total", "All"]);
  const head = document.createElement("tr");
  head.className = "govuk-table__row";
  head.append(cell("td", "govuk-table__header", ""));
  for (const channel of channels) {
    const name = cell("th", "govuk-table__header govuk-table__header--numeric", channel.name);
    name.scope = "col";
    head.append(name);
  }
  const rows = groups.map(([key, words]) => {
    const row = document.createElement("tr");
    row.className = "govuk-table__row";
    const label = cell("th", "govuk-table__header", words);
    label.scope = "row";
    row.append(label);
    for (const channel of channels) {
      row.append(cell("td", "govuk-table__cell govuk-table__cell--numeric", String(channel[key])));
    }
    return row;
  });
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...rows);
  for (const note of document.querySelectorAll("[data-no-channels]")) note.remove();
}

function showProgress(widget, data) {
  for (const element of widget.querySelectorAll("[data-field]")) {
    const key = element.dataset.field;
    if (key in data) element.textContent = String(data[key]);
  }
  for (const bar of widget.querySelectorAll("progress[data-progress-value]")) {
    bar.value = data.percent;
    bar.textContent = `${data.percent}%`;
  }
  const scope = widget.closest("main") || document;
  for (const tag of scope.querySelectorAll("[data-state-tag]")) {
    tag.textContent = data.state_words;
    tag.className = `govuk-tag govuk-tag--${data.state_colour}`;
  }
  const table = widget.querySelector("table[data-channels]");
  if (table) fillChannels(table, data.channels);
  if (data.milestone !== widget.dataset.milestone) {
    widget.dataset.milestone = data.milestone;
    const region = widget.querySelector("[data-live-announce]");
    if (region) region.textContent = data.milestone;
  }
}

function followProgress(widget) {
  const ms = Number(widget.dataset.pollMs) || 2000;
  if (widget.dataset.finished === "true") return;
  showRunning(widget);
  const tick = async () => {
    if (document.hidden) {
      later(tick, ms);
      return;
    }
    try {
      const data = await getJson(widget.dataset.url);
      showProgress(widget, data);
      if (data.finished) {
        hidden("[data-live-running]", widget, true);
        hidden("[data-live-done]", widget, false);
        return;
      }
    } catch {
      showStatic(widget);
      return;
    }
    later(tick, ms);
  };
  later(tick, ms);
}

function inUse(section) {
  if (section.contains(document.activeElement)) return true;
  for (const field of section.querySelectorAll("textarea, input")) {
    if (field.type === "hidden") continue;
    if (field.type === "radio" || field.type === "checkbox") {
      if (field.checked !== field.defaultChecked) return true;
    } else if (field.value !== field.defaultValue) {
      return true;
    }
  }
  return false;
}

function refreshList(list, html) {
  const fresh = new DOMParser().parseFromString(`<div>${html}</div>`, "text/html").body
    .firstElementChild;
  const count = list.querySelector("[data-live-count]");
  const newCount = fresh.querySelector("[data-live-count]");
  const announce = document.querySelector("[data-live-list-announce]");
  if (count && newCount && count.textContent !== newCount.textContent) {
    count.textContent = newCount.textContent;
    if (announce) announce.textContent = newCount.textContent;
  }
  // "The first 100 are below": kept in step with the fresh list, or gone when all fit.
  const more = list.querySelector("[data-live-more]");
  const freshMore = fresh.querySelector("[data-live-more]");
  if (more && !freshMore) more.remove();
  else if (more && freshMore) more.textContent = freshMore.textContent;
  else if (!more && freshMore && count) count.after(document.adoptNode(freshMore));
  const wanted = new Map();
  for (const section of fresh.querySelectorAll("[data-family]")) {
    wanted.set(section.dataset.family, section);
  }
  const present = new Map();
  for (const section of list.querySelectorAll("[data-family]")) {
    const key = section.dataset.family;
    present.set(key, section);
    if (inUse(section)) continue;
    const replacement = wanted.get(key);
    if (replacement) section.replaceWith(document.adoptNode(replacement));
    else section.remove();
  }
  for (const [key, section] of wanted) {
    if (!present.has(key)) list.append(document.adoptNode(section));
  }
  const noneLeft = !list.querySelector("[data-family]");
  const none = list.querySelector("[data-live-none]");
  const freshNone = fresh.querySelector("[data-live-none]");
  if (noneLeft && !none && freshNone) list.append(document.adoptNode(freshNone));
  if (!noneLeft && none) none.remove();
}

function followList(list) {
  const ms = Number(list.dataset.refreshMs) || 5000;
  showRunning(list);
  const tick = async () => {
    if (!document.hidden) {
      try {
        const response = await fetch(list.dataset.url, {
          credentials: "same-origin",
          cache: "no-store",
        });
        if (!response.ok || response.redirected) throw new Error(`status ${response.status}`);
        refreshList(list, await response.text());
      } catch {
        showStatic(list);
        return;
      }
    }
    later(tick, ms);
  };
  later(tick, ms);
}

for (const widget of document.querySelectorAll("[data-live-progress]")) followProgress(widget);
for (const list of document.querySelectorAll("[data-live-list]")) followList(list);
