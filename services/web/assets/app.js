// Ringside's own script, on every page: the call bar (caller-ID cards pushed over
// notifications' socket while the phone rings, kept across pages because the
// server sends the live cards again when a page connects, and a note being typed
// is kept in this tab's session storage), and the welcome page's link code.
"use strict";

(function welcome() {
  // The link's code travels after '#', which browsers never send to a server; it is
  // put in the form and taken out of the address bar and history.
  const code = document.getElementById("code");
  if (!document.getElementById("welcome") || !code || location.hash.length < 2) return;
  code.value = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, "", location.pathname);
})();

(function localTimes() {
  // Moments come as UTC; each is shown in the person's time zone and language.
  const lang = document.documentElement.lang || undefined;
  const show = root => {
    for (const t of root.querySelectorAll("time[datetime]")) {
      const at = new Date(t.getAttribute("datetime"));
      if (!isNaN(at)) t.textContent = at.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
    }
  };
  show(document);
  document.addEventListener("htmx:afterSettle", e => show(e.target));
})();

(function callBar() {
  const bar = document.getElementById("call-bar");
  if (!bar) return;
  const T = JSON.parse(document.getElementById("bar-text").textContent);
  const cards = document.getElementById("cards");
  const statusLine = document.getElementById("status");
  const lang = document.documentElement.lang || undefined;
  let socket = null;
  let me = null;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function when(ms) {
    return ms ? new Date(ms).toLocaleString(lang) : "";
  }

  function money(minor, currency) {
    return (minor / 100).toLocaleString(lang, { minimumFractionDigits: 2 }) + " " + currency;
  }

  function list(title, items, render) {
    const box = el("div");
    if (!items || items.length === 0) return box;
    box.append(el("div", title, "muted"));
    const ul = el("ul");
    for (const item of items) ul.append(render(item));
    box.append(ul);
    return box;
  }

  function draftKey(callId, field) {
    return "ringside.call." + callId + "." + field;
  }

  // A text field whose content survives a page change in this tab.
  function kept(tag, callId, field, cls, label, placeholder) {
    const id = "call-" + field + "-" + callId.replace(/[^A-Za-z0-9_-]/g, "_");
    const lab = el("label", label, "visually-hidden");
    lab.htmlFor = id;
    const input = el(tag, null, cls);
    input.id = id;
    input.placeholder = placeholder;
    input.value = sessionStorage.getItem(draftKey(callId, field)) || "";
    input.addEventListener("input", () => sessionStorage.setItem(draftKey(callId, field), input.value));
    return [lab, input];
  }

  function clientLink(card) {
    const kinds = { contact: "/contacts/", lead: "/leads/" };
    const base = kinds[card.client_kind];
    if (!base || !card.client_id) return null;
    const a = el("a", T.open_client, "open-client");
    a.href = base + encodeURIComponent(card.client_id);
    // Opened in place of the page's content, so the call bar and its socket stay.
    for (const [name, value] of [["hx-boost", "true"], ["hx-target", "#main"], ["hx-select", "#main"], ["hx-swap", "outerHTML"]]) {
      a.setAttribute(name, value);
    }
    if (window.htmx) window.htmx.process(a);
    return a;
  }

  function stateLine(card) {
    const states = { ringing: T.ringing, closed: T.closed };
    const state = card.state === "answered" ? T.answered_by + " " + card.answered_by : (states[card.state] || card.state);
    return state + (card.pending.length ? " · " + T.loading + " " + card.pending.join(", ") : "");
  }

  function noteForm(card) {
    const [noteLabel, note] = kept("textarea", card.call_id, "note", "note", T.note_label, T.note_placeholder);
    const [outcomeLabel, outcome] = kept("input", card.call_id, "outcome", "outcome", T.outcome_label, T.outcome_placeholder);
    const save = el("button", T.save_note, "save-note");
    save.type = "button";
    const saved = el("span", "", "saved muted");
    saved.setAttribute("role", "status");
    save.onclick = () => {
      socket.send(JSON.stringify({ type: "note", call_id: card.call_id, text: note.value, outcome: outcome.value }));
      saved.textContent = T.saving;
    };
    return [noteLabel, note, outcomeLabel, outcome, save, saved];
  }

  function render(card) {
    let box = document.querySelector(`.card[data-call-id="${CSS.escape(card.call_id)}"]`);
    if (!box) {
      box = el("section", null, "card");
      box.dataset.callId = card.call_id;
      cards.prepend(box);
    }
    box.className = "card " + card.state;
    box.replaceChildren();
    const name = el("h2", card.name || card.caller, "name");
    box.append(name);
    box.setAttribute("aria-label", name.textContent);
    if (card.new_lead) box.append(el("div", T.new_lead, "new-lead"));
    const who = [card.company, card.status, card.caller].filter(Boolean).join(" · ");
    box.append(el("div", who, "muted company"));
    if (card.tags.length) box.append(el("div", T.tags + ": " + card.tags.join(", "), "tags"));
    box.append(list(T.open_deals, card.deals, d => el("li", `${d.title} — ${d.stage}, ${money(d.amount_minor, d.currency)}`)));
    box.append(list(T.recent, card.interactions, i => el("li", `${when(i.at)} · ${i.kind}: ${i.summary}`)));
    if (card.last_call) {
      const l = card.last_call;
      const text = `${T.last_call} ${when(l.at)}: ${l.outcome}${l.note ? " — " + l.note : ""}`;
      box.append(el("div", text, "last-call"));
    }
    box.append(list(T.tasks, card.tasks, t => el("li", `${t.title} (${T.due} ${when(t.due_at)})`, t.overdue ? "overdue" : "")));
    box.append(el("div", stateLine(card), "muted state"));
    const link = clientLink(card);
    if (link) box.append(link);
    box.append(...noteForm(card));
    if (card.state === "closed") {
      const dismiss = el("button", T.dismiss, "dismiss");
      dismiss.type = "button";
      dismiss.onclick = () => forget(box, card.call_id);
      box.append(dismiss);
    }
  }

  function forget(box, callId) {
    sessionStorage.removeItem(draftKey(callId, "note"));
    sessionStorage.removeItem(draftKey(callId, "outcome"));
    box.remove();
  }

  function alertBox(text) {
    const a = el("div", text, "alert");
    document.getElementById("alerts").append(a);
    setTimeout(() => a.remove(), 15000);
  }

  function onPush(push) {
    const box = push.card && document.querySelector(`.card[data-call-id="${CSS.escape(push.card.call_id)}"]`);
    switch (push.type) {
      case "card":
      case "card_update":
        render(push.card);
        break;
      case "card_close":
        // Answered by someone else: the card goes. Over: it stays for a note.
        if (push.card.state === "closed" && box) render(push.card);
        else if (box) forget(box, push.card.call_id);
        break;
      case "note_saved":
      case "error": {
        const card = document.querySelector(`.card[data-call-id="${CSS.escape(push.call_id || "")}"]`);
        if (card) card.querySelector(".saved").textContent = push.type === "error" ? push.message : T.saved;
        else if (push.type === "error") alertBox(push.message);
        break;
      }
      case "task_due":
        alertBox(`${T.task_due}: ${push.title}`);
        break;
      case "lead_assigned":
        alertBox(`${T.lead_assigned}: ${push.title || push.lead_id}`);
        break;
    }
  }

  // Who is signed in; a session that has ended goes back to the sign-in page.
  // While the server cannot tell (it restarts, staff is away), the last answer holds.
  async function whoAmI() {
    try {
      const r = await fetch("/agent/me", { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { location.href = "/signin"; return null; }
      return r.ok ? await r.json() : me;
    } catch (_) {
      return me;
    }
  }

  function socketUrl() {
    if (bar.dataset.push) return bar.dataset.push;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/agent/ws`;
  }

  // The socket authenticates with the session cookie; no token in its URL.
  function connect() {
    socket = new WebSocket(socketUrl());
    socket.onopen = () => { statusLine.textContent = T.online; bar.classList.add("online"); };
    socket.onmessage = m => {
      const push = JSON.parse(m.data);
      if (push.type === "signed_out") { location.href = "/signin"; return; }
      onPush(push);
    };
    socket.onclose = e => {
      bar.classList.remove("online");
      if (e.code === 4401) { location.href = "/signin"; return; }
      statusLine.textContent = T.reconnecting;
      setTimeout(async () => { if (await whoAmI()) connect(); }, 2000);
    };
  }

  whoAmI().then(found => { if (found) { me = found; connect(); } });
})();
