// Ringside's own script, on every page: the call bar (caller-ID cards pushed over
// notifications' socket while the phone rings, kept across pages because the
// server sends the live cards again when a page connects, a note being typed kept
// in this tab's session storage until it is saved or the person signs out, and the
// wrap-up with its follow-up task), the inbox's canned answers put into an
// answer, the person's offset from UTC for the server,
// moments in their time zone, the board's drag and drop, the keyboard shortcuts,
// and the welcome page's link code.
"use strict";

// What works only with this script (the shortcuts, the call bar's state) shows
// only when it runs.
document.documentElement.classList.add("scripted");

(function shortcuts() {
  const dialog = document.getElementById("shortcuts");
  const typing = e => e.target.closest && e.target.closest("input, textarea, select, [contenteditable]");
  const search = () => {
    const box = document.getElementById("q");
    if (box) { box.focus(); box.select(); }
  };
  document.addEventListener("keydown", e => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") { e.preventDefault(); search(); return; }
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "/") { e.preventDefault(); search(); }
    else if (e.key === "?" && dialog) { e.preventDefault(); dialog.showModal(); }
  });
  const show = document.getElementById("show-shortcuts");
  if (show && dialog) show.addEventListener("click", () => dialog.showModal());
})();

(function welcome() {
  // The link's code travels after '#', which browsers never send to a server; it is
  // put in the form and taken out of the address bar and history.
  const code = document.getElementById("code");
  if (!document.getElementById("welcome") || !code || location.hash.length < 2) return;
  code.value = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, "", location.pathname);
})();

(function offset() {
  // What "today" means for the person: the server reads their offset from UTC here
  // (set on the sign-in page already, so the first page after it knows).
  const minutes = -new Date().getTimezoneOffset();
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `ringside_utc_offset=${minutes}; Path=/; Max-Age=31536000; SameSite=Lax${secure}`;
  // A local time picked in a form is sent with the offset of that very date (summer
  // time may differ from today's).
  document.addEventListener("submit", e => {
    const local = e.target.querySelector && e.target.querySelector("input[type=datetime-local]");
    const field = e.target.querySelector && e.target.querySelector("input[name=offset]");
    if (local && field && local.value) field.value = String(-new Date(local.value).getTimezoneOffset());
  }, true);
})();

(function localTimes() {
  // Moments come as UTC; each is shown in the person's language and time zone: the
  // one they keep (the page names it), else their device's.
  const lang = document.documentElement.lang || undefined;
  const style = { dateStyle: "medium", timeStyle: "short" };
  const zone = document.documentElement.dataset.tz;
  if (zone) {
    try {
      new Date().toLocaleString(lang, { ...style, timeZone: zone });
      style.timeZone = zone;
    } catch (_) { /* a zone this browser does not know: the device's */ }
  }
  const show = root => {
    for (const t of root.querySelectorAll("time[datetime]")) {
      const at = new Date(t.getAttribute("datetime"));
      if (!isNaN(at)) t.textContent = at.toLocaleString(lang, style);
    }
  };
  show(document);
  document.addEventListener("htmx:afterSettle", e => show(e.target));
})();

(function cannedAnswers() {
  // A canned answer goes into the answer being written, where its cursor was,
  // without asking the server (which, without this script, opens the conversation
  // with the answer started from it).
  document.addEventListener("submit", e => {
    const form = e.target;
    if (!form || form.id !== "canned-form") return;
    const option = form.querySelector("select").selectedOptions[0];
    const box = document.getElementById("reply-text");
    if (!option || !box) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    box.setRangeText(option.dataset.text || "", box.selectionStart, box.selectionEnd, "end");
    // Only the typing is held to the answer's length, not a script's edit.
    if (box.maxLength > 0 && box.value.length > box.maxLength) box.value = box.value.slice(0, box.maxLength);
    box.focus();
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }, true);
})();

(function board() {
  // Dragging a card to another column submits its move form (the answer is the
  // board again, recomputed); only open stages give or take cards (won and lost are
  // the deal page's steps), and order within a column is the server's.
  const init = () => {
    if (!window.Sortable) return;
    for (const list of document.querySelectorAll(".board .cards")) {
      if (list.dataset.sortable) continue;
      list.dataset.sortable = "1";
      const open = !list.dataset.closed;
      window.Sortable.create(list, {
        group: { name: "deals", pull: open, put: open },
        sort: false,
        delay: 200,
        delayOnTouchOnly: true,
        draggable: ".deal",
        filter: "a, form, select, button, label",
        preventOnFilter: false,
        onEnd: e => {
          if (e.from === e.to) return;
          const form = e.item.querySelector("form.move");
          form.querySelector("select").value = e.to.dataset.stageId;
          form.requestSubmit();
        },
      });
    }
  };
  window.addEventListener("load", init);
  document.addEventListener("htmx:afterSettle", init);
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

  const DRAFTS = "ringside.call.";

  function draftKey(callId, field) {
    return DRAFTS + callId + "." + field;
  }

  function forgetDrafts(callId) {
    const prefix = callId === undefined ? DRAFTS : draftKey(callId, "");
    for (const key of Object.keys(sessionStorage)) {
      if (key.startsWith(prefix)) sessionStorage.removeItem(key);
    }
  }

  // Notes being typed are the clients' words: they go with the session.
  function signedOut() {
    forgetDrafts();
    location.href = "/signin";
  }
  const signOut = document.getElementById("signout");
  if (signOut) signOut.form.addEventListener("submit", () => forgetDrafts());

  function word(value) {
    return T.words[value] || value;
  }

  // A text field whose content survives a page change in this tab.
  function kept(tag, callId, field, cls, label, placeholder, shown) {
    const id = "call-" + field + "-" + callId.replace(/[^A-Za-z0-9_-]/g, "_");
    const lab = el("label", label, shown ? "" : "visually-hidden");
    lab.htmlFor = id;
    const input = el(tag, null, cls);
    input.id = id;
    input.placeholder = placeholder;
    input.value = sessionStorage.getItem(draftKey(callId, field)) || "";
    input.addEventListener("input", () => sessionStorage.setItem(draftKey(callId, field), input.value));
    return [lab, input];
  }

  // The client's page (`part`: with that part of it opened).
  function clientLink(card, part, text) {
    const kinds = { contact: "/contacts/", lead: "/leads/" };
    const base = kinds[card.client_kind];
    if (!base || !card.client_id) return null;
    const a = el("a", text || T.open_client, part ? "open-client " + part : "open-client");
    a.href = base + encodeURIComponent(card.client_id) + (part ? "?open=" + part : "");
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
    return state + (card.pending.length ? " · " + T.loading + " " + card.pending.map(word).join(", ") : "");
  }

  // One part of a wrap-up is saved: "saved" once every part is.
  function partSaved(status) {
    const left = Math.max(0, Number(status.dataset.waiting || 1) - 1);
    status.dataset.waiting = String(left);
    if (left === 0) status.textContent = T.saved;
  }

  // A call-back about the caller, set from the card (a task of the person's): the
  // server answers 204 to this script, 401 once the session has ended.
  async function followUp(card, title, due) {
    const offset = String(-new Date(due).getTimezoneOffset());
    const body = new URLSearchParams({ title, due, offset });
    if (card.client_kind === "contact") body.set("contact_id", card.client_id);
    else if (card.client_kind === "lead") body.set("lead_id", card.client_id);
    try {
      const headers = { "ringside-script": "1" };
      const r = await fetch("/tasks", { method: "POST", body, headers, credentials: "same-origin" });
      if (r.status === 401) signedOut();
      return r.status === 204;
    } catch (_) {
      return false;
    }
  }

  // The note goes over the socket, when it is open.
  function sendNote(card, text, outcome) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify({ type: "note", call_id: card.call_id, text, outcome }));
    return true;
  }

  // The wrap-up: a note and an outcome for the call's timeline entry, and a
  // follow-up task, saved by one button.
  function noteForm(card) {
    const [noteLabel, note] = kept("textarea", card.call_id, "note", "note", T.note_label, T.note_placeholder);
    const [outcomeLabel, outcome] = kept("input", card.call_id, "outcome", "outcome", T.outcome_label, T.outcome_placeholder);
    const [taskLabel, task] = kept("input", card.call_id, "task", "follow-up", T.follow_up, "", true);
    const [dueLabel, due] = kept("input", card.call_id, "due", "follow-up-due", T.follow_up_due, "", true);
    task.maxLength = 200;
    due.type = "datetime-local";
    const save = el("button", T.save_note, "save-note");
    save.type = "button";
    const saved = el("span", "", "saved muted");
    saved.setAttribute("role", "status");
    save.onclick = () => wrapUp(card, { note, outcome, task, due, save, saved });
    return [noteLabel, note, outcomeLabel, outcome, taskLabel, task, dueLabel, due, save, saved];
  }

  async function wrapUp(card, f) {
    const noting = f.note.value.trim() !== "" || f.outcome.value.trim() !== "";
    const titled = f.task.value.trim() !== "", timed = f.due.value !== "";
    if (titled !== timed || (!noting && !titled)) {
      f.saved.textContent = T.incomplete;
      return;
    }
    f.save.disabled = true;
    f.saved.dataset.waiting = String(Number(noting) + Number(titled));
    f.saved.textContent = T.saving;
    if (noting && !sendNote(card, f.note.value, f.outcome.value)) {
      f.saved.textContent = T.not_saved;
      f.save.disabled = false;
      return;
    }
    if (titled) {
      if (await followUp(card, f.task.value.trim(), f.due.value)) {
        f.task.value = "";
        f.due.value = "";
        sessionStorage.removeItem(draftKey(card.call_id, "task"));
        sessionStorage.removeItem(draftKey(card.call_id, "due"));
        partSaved(f.saved);
      } else {
        f.saved.textContent = T.not_saved;
      }
    }
    f.save.disabled = false;
  }

  // What the card says, rebuilt on every update.
  function info(card) {
    const box = el("div", null, "call-info");
    const name = el("h2", card.name || card.caller, "name");
    name.id = "call-name-" + card.call_id.replace(/[^A-Za-z0-9_-]/g, "_");
    box.append(name);
    if (card.new_lead) box.append(el("div", T.new_lead, "new-lead"));
    const who = [card.company, word(card.status), card.caller].filter(Boolean).join(" · ");
    box.append(el("div", who, "muted company"));
    if (card.tags.length) box.append(el("div", T.tags + ": " + card.tags.join(", "), "tags"));
    box.append(list(T.open_deals, card.deals, d => el("li", `${d.title} — ${d.stage}, ${money(d.amount_minor, d.currency)}`)));
    box.append(list(T.recent, card.interactions, i => el("li", `${when(i.at)} · ${word(i.kind)}: ${i.summary}`)));
    if (card.last_call) {
      const l = card.last_call;
      const text = `${T.last_call} ${when(l.at)}: ${word(l.outcome)}${l.note ? " — " + l.note : ""}`;
      box.append(el("div", text, "last-call"));
    }
    box.append(list(T.tasks, card.tasks, t => el("li", `${t.title} (${T.due} ${when(t.due_at)})`, t.overdue ? "overdue" : "")));
    box.append(el("div", stateLine(card), "muted state"));
    const link = clientLink(card);
    if (link) box.append(link);
    // A lead: made a contact, or found to be a client the office knows.
    if (link && card.client_kind === "lead") {
      box.append(clientLink(card, "convert", T.convert_lead), clientLink(card, "attach", T.existing_client));
    }
    return box;
  }

  // The note being typed is kept as it is (focus and all); the rest is redrawn.
  function render(card) {
    let box = document.querySelector(`.card[data-call-id="${CSS.escape(card.call_id)}"]`);
    if (!box) {
      box = el("section", null, "card");
      box.dataset.callId = card.call_id;
      const form = el("div", null, "call-form");
      form.append(...noteForm(card));
      box.append(el("div", null, "call-info"), form);
      cards.prepend(box);
    }
    box.className = "card " + card.state;
    const fresh = info(card);
    box.querySelector(".call-info").replaceWith(fresh);
    box.setAttribute("aria-labelledby", fresh.querySelector("h2").id);
    const form = box.querySelector(".call-form");
    if (card.state === "closed" && !form.querySelector(".dismiss")) {
      const dismiss = el("button", T.dismiss, "dismiss");
      dismiss.type = "button";
      dismiss.onclick = () => forget(box, card.call_id);
      form.append(dismiss);
    }
  }

  function forget(box, callId) {
    forgetDrafts(callId);
    box.remove();
  }

  function alertBox(text) {
    const a = el("div", text, "alert");
    document.getElementById("alerts").append(a);
    setTimeout(() => a.remove(), 15000);
  }

  // A deal of a pipeline changed: the board of that pipeline on screen asks again —
  // once for a burst of changes, not while the tab is hidden (it does when shown),
  // and not while a card is being dragged (its drop brings the board back anyway);
  // while a card's stage is being chosen it waits, so the choice is not put back.
  let boardTimer = null;
  let boardStale = false;
  function boardChanged(pipeline) {
    const board = document.getElementById("board");
    if (!board || !board.hasAttribute("hx-get")) return;
    if (pipeline && board.dataset.pipeline && board.dataset.pipeline !== pipeline) return;
    if (document.hidden) {
      boardStale = true;
      return;
    }
    clearTimeout(boardTimer);
    boardTimer = setTimeout(() => {
      if (document.querySelector(".sortable-chosen")) return;
      if (board.contains(document.activeElement) && document.activeElement.matches("select")) {
        board.addEventListener("focusout", () => boardChanged(""), { once: true });
        return;
      }
      document.body.dispatchEvent(new CustomEvent("ringside:board"));
    }, 400);
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && boardStale) {
      boardStale = false;
      boardChanged("");
    }
  });

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
        if (card && push.type === "note_saved") {
          sessionStorage.removeItem(draftKey(push.call_id, "note"));
          sessionStorage.removeItem(draftKey(push.call_id, "outcome"));
          // Filed: a second save does not file it again.
          card.querySelector(".note").value = "";
          card.querySelector(".outcome").value = "";
          partSaved(card.querySelector(".saved"));
        } else if (card) {
          card.querySelector(".saved").textContent = T.not_saved;
        }
        else if (push.type === "error") alertBox(T.not_saved);
        break;
      }
      case "task_due":
        alertBox(`${T.task_due}: ${push.title}`);
        break;
      case "lead_assigned":
        alertBox(`${T.lead_assigned}: ${push.title || push.lead_id}`);
        break;
      case "board":
        boardChanged(push.pipeline_id);
        break;
      case "inbox": {
        // Only the conversation's id comes: the inbox's parts ask again, as the
        // person — the list always, the thread when it is that conversation's.
        document.body.dispatchEvent(new CustomEvent("ringside:inbox", { detail: push.conversation_id }));
        const thread = document.getElementById("thread");
        if (thread && thread.dataset.conversation === push.conversation_id) {
          thread.dispatchEvent(new CustomEvent("ringside:thread"));
        }
        break;
      }
    }
  }

  // Who is signed in; a session that has ended goes back to the sign-in page.
  // While the server cannot tell (it restarts, staff is away), the last answer holds.
  async function whoAmI() {
    try {
      const r = await fetch("/agent/me", { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { signedOut(); return null; }
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
  // Whether the socket was open before: after a reconnect the board asks again too.
  let wasOpen = false;
  function connect() {
    socket = new WebSocket(socketUrl());
    socket.onopen = () => {
      statusLine.textContent = T.online;
      bar.classList.add("online");
      // What changed while no socket was open (since the page was made, or while
      // reconnecting) came as no frame: the inbox asks again, and after a
      // reconnect the board.
      document.body.dispatchEvent(new CustomEvent("ringside:inbox"));
      if (wasOpen) boardChanged("");
      wasOpen = true;
    };
    socket.onmessage = m => {
      const push = JSON.parse(m.data);
      if (push.type === "signed_out") { signedOut(); return; }
      onPush(push);
    };
    socket.onclose = e => {
      bar.classList.remove("online");
      if (e.code === 4401) { signedOut(); return; }
      statusLine.textContent = T.reconnecting;
      setTimeout(async () => { if (await whoAmI()) connect(); }, 2000);
    };
  }

  whoAmI().then(found => { if (found) { me = found; connect(); } });
})();
