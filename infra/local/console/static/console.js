// BankBridge console front end: renders Messenger, Instagram and WhatsApp threads from the
// console's JSON API (Instagram sends Messenger's shapes, so it renders as Messenger's).
// Everything on the page is built with textContent (never innerHTML), so bot replies
// and log lines cannot inject markup. Secrets never reach this script: the backend signs.
"use strict";

const STREAM_RETRY_MS = 5000; // after the console refused a stream (503: too many open)
const TRACE_REFRESH_MS = 1500;
const STATUS_REFRESH_MS = 5000;
const TYPING_TIMEOUT_MS = 20000; // Messenger hides typing_on after 20 s
const WHATSAPP_TYPING_TIMEOUT_MS = 25000; // WhatsApp's typing indicator: 25 s or the reply
const RAW_LOG_MAX = 300;

const threads = new Map(); // psid -> Thread
let replyStream = null; // the page's one EventSource: replies for every thread
let lastReplySeq = 0; // the newest reply's seq seen on the stream
const checkedConnectors = new Set();
let rawLogAfter = 0;
let whatsappTemplates = {}; // approved template name -> { body, buttons } (WhatsApp shows these)

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (!response.ok) {
    const error = new Error((data && data.error) || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

// ---------------------------------------------------------------- one conversation

class Thread {
  constructor(user) {
    this.psid = user.psid;
    this.name = user.name;
    this.channel = user.channel || "messenger";
    this.lastSeq = 0; // seq of the newest Send API body rendered
    this.restored = false;
    this.early = []; // replies streamed before the restore finished
    this.typingTimer = null;
    this.build();
  }

  build() {
    const fragment = document.getElementById("thread-template").content.cloneNode(true);
    this.root = fragment.querySelector(".thread");
    const titleId = `thread-title-${this.psid}`;
    const inputId = `composer-${this.psid}`;
    this.root.id = `thread-${this.psid}`;
    this.root.dataset.psid = this.psid;
    this.root.setAttribute("aria-labelledby", titleId);
    this.root.querySelector(".avatar").textContent = this.name.slice(0, 1).toUpperCase();
    const title = this.root.querySelector(".thread-name");
    title.id = titleId;
    title.textContent = this.name;
    this.root.dataset.channel = this.channel;
    this.root.querySelector(".psid").textContent = {
      whatsapp: `WhatsApp +${this.psid}`, instagram: `Instagram IGSID ${this.psid}`,
    }[this.channel] || `PSID ${this.psid}`;
    const remove = this.root.querySelector(".remove-user");
    remove.setAttribute("aria-label", `Remove ${this.name}`);
    remove.addEventListener("click", () => removeUser(this));
    this.messages = this.root.querySelector(".messages");
    this.messages.setAttribute("aria-label", `Messages between ${this.name} and BankBridge`);
    this.typing = this.root.querySelector(".typing");
    this.chips = this.root.querySelector(".quick-replies");
    this.chips.setAttribute("aria-label", `Quick replies for ${this.name}`);
    const form = this.root.querySelector(".composer");
    const label = form.querySelector("label");
    this.input = form.querySelector("input");
    this.input.id = inputId;
    label.htmlFor = inputId;
    label.textContent = `Message from ${this.name}`;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = this.input.value.trim();
      if (!text) return;
      this.input.value = "";
      this.send({ kind: "text", text }, text);
    });
  }

  // Restore a reloaded page: the person's sends and the bot's replies, in time order.
  async restore(sent) {
    let replies = [];
    try {
      replies = (await api("GET", `/api/users/${this.psid}/replies`)).replies;
    } catch (error) {
      this.systemNote(`Could not load replies: ${error.message}`);
    }
    const items = [
      ...sent.filter((record) => record.bubble).map((record) => ({ at: record.result.posted_at_ms, record })),
      ...replies.map((reply) => ({ at: reply.received_at_ms, reply })),
    ].sort((a, b) => a.at - b.at);
    for (const item of items) {
      if (item.record) this.userBubble(item.record.bubble, item.record.result.status);
      else this.renderReply(item.reply);
    }
    this.lastSeq = replies.reduce((newest, reply) => Math.max(newest, reply.seq), 0);
    this.restored = true;
    for (const reply of this.early.splice(0)) this.receive(reply);
    this.refreshQuickReplies();
  }

  // One reply from the stream; a restore or a reconnect may deliver it twice.
  receive(reply) {
    if (!this.restored) { this.early.push(reply); return; }
    if (reply.seq <= this.lastSeq) return;
    this.lastSeq = reply.seq;
    this.renderReply(reply);
    this.refreshQuickReplies();
  }

  async send(action, bubbleText) {
    this.clearQuickReplies();
    followInLog(this.psid);
    const item = this.userBubble(bubbleText, null);
    try {
      const record = await api("POST", `/api/users/${this.psid}/messages`, action);
      this.markDelivery(item, record.result.status, record.result.answer);
    } catch (error) {
      this.markDelivery(item, null, error.message);
    }
    refreshTraces();
  }

  userBubble(text, status) {
    const item = el("li", { class: "msg from-user", "data-testid": "user-message" },
      el("span", { class: "visually-hidden", text: `${this.name}:` }),
      el("div", { class: "bubble", text }));
    this.append(item);
    if (status !== null && status !== 200) this.markDelivery(item, status, "");
    return item;
  }

  markDelivery(item, status, answer) {
    if (status === 200) return;
    const reason = status === null ? answer : `webhook answered ${status}`;
    item.append(el("span", { class: "msg-note bad", text: `Not delivered: ${reason}` }));
  }

  systemNote(text) {
    this.append(el("li", { class: "system-note", text }));
  }

  append(item) {
    this.messages.append(item);
    this.messages.scrollTop = this.messages.scrollHeight;
  }

  // One Send API body, rendered as Messenger (or WhatsApp) renders it; Instagram's are Messenger's
  // shapes within Instagram's limits (no Log In button: linking opens a web_url button).
  renderReply(body) {
    if (body.messaging_product === "whatsapp") {
      this.renderWhatsApp(body);
      return;
    }
    if (body.sender_action) {
      this.setTyping(body.sender_action === "typing_on");
      return;
    }
    this.setTyping(false);
    const message = body.message || {};
    const item = el("li", { class: "msg from-bot", "data-testid": "bot-message" },
      el("span", { class: "visually-hidden", text: "BankBridge:" }));
    const attachment = message.attachment;
    if (attachment && attachment.type === "template") {
      item.append(this.template(attachment.payload || {}));
    } else if (attachment) {
      const url = attachment.payload && attachment.payload.url;
      item.append(el("div", { class: "bubble" },
        url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: `Open ${attachment.type}` })
          : `[${attachment.type} attachment]`));
    }
    if (message.text !== undefined) {
      item.append(el("div", { class: "bubble", "data-testid": "bot-text", text: message.text }));
    }
    item.quickReplies = message.quick_replies || [];
    this.append(item);
  }

  template(payload) {
    if (payload.template_type === "generic") {
      const carousel = el("div", { class: "carousel", "data-testid": "generic-template" });
      for (const element of payload.elements || []) {
        const card = el("div", { class: "card" });
        if (element.image_url) card.append(el("img", { class: "card-image", src: element.image_url, alt: element.title || "" }));
        card.append(el("div", { class: "card-title", text: element.title || "" }));
        if (element.subtitle) card.append(el("div", { class: "card-subtitle", text: element.subtitle }));
        card.append(this.buttons(element.buttons || []));
        carousel.append(card);
      }
      return carousel;
    }
    const card = el("div", { class: "card", "data-testid": "button-template" },
      el("div", { class: "card-text", text: payload.text || "" }));
    card.append(this.buttons(payload.buttons || []));
    return card;
  }

  buttons(buttons) {
    const group = el("div", { class: "card-buttons" });
    for (const button of buttons) group.append(this.button(button));
    return group;
  }

  button(button) {
    const newTab = el("span", { class: "visually-hidden", text: " (opens in a new tab)" });
    switch (button.type) {
      case "postback":
        return el("button", {
          type: "button", class: "card-button", "data-testid": "postback-button", text: button.title,
          onclick: () => this.send({ kind: "postback", title: button.title, payload: button.payload }, button.title),
        });
      case "web_url":
        return el("a", {
          class: "card-button", href: button.url, target: "_blank", rel: "noopener noreferrer",
          "data-testid": "url-button", text: button.title,
        }, newTab);
      case "account_link": {
        const href = `/messenger/account-link?${new URLSearchParams({ psid: this.psid, url: button.url })}`;
        return el("a", {
          class: "card-button", href, target: "_blank", rel: "noopener", "data-testid": "account-link-button",
          text: "Log In",
        }, newTab);
      }
      case "account_unlink":
        return el("button", {
          type: "button", class: "card-button", "data-testid": "account-unlink-button", text: "Log Out",
          onclick: () => this.send({ kind: "account_unlink" }, "Log Out"),
        });
      case "phone_number":
        return el("a", { class: "card-button", href: `tel:${button.payload}`, text: button.title });
      default:
        return el("button", { type: "button", class: "card-button", disabled: true, text: button.title || button.type });
    }
  }

  // One Cloud API /messages body, as WhatsApp shows it: text, reply buttons, a list behind
  // its button, a CTA URL button, an approved template; read/typing updates name no `to`.
  renderWhatsApp(body) {
    if (!body.to) {
      if (body.typing_indicator) this.setTyping(true, WHATSAPP_TYPING_TIMEOUT_MS);
      return;
    }
    this.setTyping(false);
    const item = el("li", { class: "msg from-bot", "data-testid": "bot-message" },
      el("span", { class: "visually-hidden", text: "BankBridge:" }));
    item.quickReplies = [];
    if (body.type === "text") {
      item.append(el("div", { class: "bubble", "data-testid": "bot-text", text: (body.text || {}).body || "" }));
    } else if (body.type === "interactive") {
      item.append(this.interactive(body.interactive || {}));
    } else if (body.type === "template") {
      item.append(this.whatsappTemplate(body.template || {}));
    } else {
      item.append(el("div", { class: "bubble", text: `[${body.type} message]` }));
    }
    this.append(item);
  }

  interactive(interactive) {
    const card = el("div", { class: "card wa-card", "data-testid": `wa-${interactive.type}` });
    if (interactive.header && interactive.header.text) {
      card.append(el("div", { class: "card-title", text: interactive.header.text }));
    }
    card.append(el("div", { class: "card-text", "data-testid": "bot-text", text: (interactive.body || {}).text || "" }));
    if (interactive.footer && interactive.footer.text) {
      card.append(el("div", { class: "card-subtitle", text: interactive.footer.text }));
    }
    const action = interactive.action || {};
    const group = el("div", { class: "card-buttons" });
    if (interactive.type === "button") {
      for (const button of action.buttons || []) {
        const { id, title } = button.reply || {};
        group.append(this.tapButton("reply-button", title, { kind: "button_reply", title, payload: id }));
      }
    } else if (interactive.type === "list") {
      const rows = el("div", { class: "wa-list", role: "group", "aria-label": action.button || "List" });
      for (const section of action.sections || []) {
        if (section.title) rows.append(el("div", { class: "wa-section", text: section.title }));
        for (const row of section.rows || []) {
          const tap = this.tapButton("list-row", row.title, { kind: "list_reply", title: row.title, payload: row.id });
          if (row.description) tap.append(el("span", { class: "wa-row-description", text: row.description }));
          rows.append(tap);
        }
      }
      // WhatsApp keeps the rows behind the list's button until it is tapped.
      const opener = el("details", { class: "wa-list-opener" },
        el("summary", { class: "card-button", "data-testid": "list-button", text: action.button || "Options" }), rows);
      group.append(opener);
    } else if (interactive.type === "cta_url") {
      const { display_text: text, url } = action.parameters || {};
      group.append(el("a", {
        class: "card-button", href: url, target: "_blank", rel: "noopener noreferrer",
        "data-testid": "cta-url-button", text,
      }, el("span", { class: "visually-hidden", text: " (opens in a new tab)" })));
    }
    card.append(group);
    return card;
  }

  // A template send names the approved template and fills its {{n}}; WhatsApp shows the
  // approved words, so the console fills them from the definitions it was given.
  whatsappTemplate(template) {
    const approved = whatsappTemplates[template.name] || { body: "", buttons: [] };
    const components = template.components || [];
    const parameters = (components.find((c) => c.type === "body") || {}).parameters || [];
    const text = approved.body.replace(/\{\{(\d+)\}\}/g, (match, n) => {
      const parameter = parameters[Number(n) - 1];
      return parameter ? parameter.text : match;
    }) || `[template ${template.name}]`;
    const card = el("div", { class: "card wa-card", "data-testid": "wa-template", "data-template": template.name },
      el("div", { class: "card-text", "data-testid": "bot-text", text }));
    const group = el("div", { class: "card-buttons" });
    for (const component of components) {
      if (component.type !== "button" || component.sub_type !== "quick_reply") continue;
      const index = Number(component.index);
      const title = approved.buttons[index] || `Button ${index + 1}`;
      const payload = ((component.parameters || [])[0] || {}).payload;
      group.append(this.tapButton("template-button", title, { kind: "template_button", title, payload }));
    }
    card.append(group);
    return card;
  }

  tapButton(testId, title, action) {
    return el("button", {
      type: "button", class: "card-button", "data-testid": testId, text: title,
      onclick: () => this.send(action, title),
    });
  }

  // Messenger shows quick replies only under the newest message, until anything is sent.
  refreshQuickReplies() {
    this.clearQuickReplies();
    const last = this.messages.lastElementChild;
    if (!last || !last.classList.contains("from-bot") || !last.quickReplies.length) return;
    for (const reply of last.quickReplies) {
      const title = reply.title || (reply.content_type === "user_email" ? "Email" : "Phone number");
      this.chips.append(el("button", {
        type: "button", class: "chip", "data-testid": "quick-reply", "data-payload": reply.payload, text: title,
        onclick: () => {
          this.send({ kind: "quick_reply", title, payload: reply.payload || reply.content_type }, title);
          this.input.focus(); // the chip is gone: keep the keyboard user in the thread
        },
      }));
    }
    this.chips.hidden = false;
  }

  clearQuickReplies() {
    this.chips.replaceChildren();
    this.chips.hidden = true;
  }

  setTyping(on, timeoutMs = TYPING_TIMEOUT_MS) {
    clearTimeout(this.typingTimer);
    this.typing.hidden = !on;
    if (on) this.typingTimer = setTimeout(() => { this.typing.hidden = true; }, timeoutMs);
  }

  close() {
    clearTimeout(this.typingTimer);
    this.root.remove();
  }
}

// ---------------------------------------------------------------- replies

// Browsers keep six connections per host: the page opens ONE stream, once, for every
// thread (the console sends replies to all its people); EventSource reconnects by itself
// with Last-Event-ID, so nothing sent meanwhile is lost. Adding or removing a person
// never touches it.
function openReplyStream() {
  const stream = new EventSource(`/api/replies/stream?after=${lastReplySeq}`);
  replyStream = stream;
  stream.addEventListener("reply", (event) => {
    lastReplySeq = Number(event.lastEventId);
    const { psid, reply } = JSON.parse(event.data);
    const thread = threads.get(psid);
    if (thread) thread.receive(reply);
  });
  stream.addEventListener("reset", () => { // the Graph stand-in's log was cleared
    lastReplySeq = 0;
    for (const thread of threads.values()) thread.lastSeq = 0;
  });
  stream.addEventListener("error", () => {
    if (stream.readyState !== EventSource.CLOSED) return; // the browser reconnects itself
    setTimeout(() => { if (replyStream === stream) openReplyStream(); }, STREAM_RETRY_MS);
  });
}

// ---------------------------------------------------------------- users

async function addUser(user, focus) {
  const thread = new Thread(user);
  threads.set(user.psid, thread);
  document.getElementById("threads").append(thread.root);
  refreshUserLists();
  if (focus) {
    // Now, in the task that shows the thread: focusing after the restore's await took the
    // focus back from wherever the person had moved meanwhile (their next user's name went
    // into this composer, and the next user was added unnamed).
    thread.root.scrollIntoView({ block: "nearest", inline: "start" });
    thread.input.focus();
  }
  await thread.restore(user.sent || []);
}

async function removeUser(thread) {
  try {
    await api("DELETE", `/api/users/${thread.psid}`);
  } catch (error) {
    if (error.status !== 404) return;
  }
  // Move the focus only if it is still in the closing thread: the person may have moved
  // on (to another composer) while the DELETE was on its way.
  const hadFocus = thread.root.contains(document.activeElement);
  thread.close();
  threads.delete(thread.psid);
  refreshUserLists();
  if (hadFocus) document.getElementById("new-user-name").focus();
}

function refreshUserLists() {
  const links = document.getElementById("user-links");
  links.replaceChildren(...[...threads.values()].map((thread) => el("li", {},
    el("a", {
      href: `#thread-${thread.psid}`, text: thread.name,
      onclick: (event) => {
        event.preventDefault();
        thread.root.scrollIntoView({ block: "nearest", inline: "start" });
        thread.input.focus();
      },
    }))));
  for (const id of ["bank-event-user", "trace-user"]) {
    const select = document.getElementById(id);
    const previous = select.value;
    select.replaceChildren(...[...threads.values()].map((thread) =>
      el("option", { value: thread.psid, text: thread.name })));
    if (threads.has(previous)) select.value = previous;
  }
  refreshTraces();
}

// ---------------------------------------------------------------- status strip

async function refreshStatus() {
  let status;
  try {
    status = await api("GET", "/api/status");
  } catch (error) {
    document.getElementById("services").replaceChildren(
      el("li", { class: "service", "data-state": "down", text: "Console backend unreachable" }));
    return;
  }
  document.getElementById("services").replaceChildren(...status.services.map((service) =>
    el("li", {
      class: "service", "data-state": service.state, "data-testid": `service-${service.key}`,
      title: `${service.url} (${service.detail})`,
    }, `${service.name}: `, el("span", { class: "service-state", text: service.state }))));
  const connectors = status.connectors;
  const box = document.getElementById("connectors");
  box.dataset.state = connectors.state;
  document.getElementById("connectors-detail").textContent = connectors.detail;
  const list = document.getElementById("connector-list");
  const known = new Map([...list.children].map((item) => [item.dataset.id, item]));
  list.replaceChildren(...connectors.connectors.map((connector) =>
    known.get(connector.institution_id) || connectorItem(connector)));
  for (const connector of connectors.connectors) {
    if (!checkedConnectors.has(connector.institution_id)) {
      checkedConnectors.add(connector.institution_id);
      checkConnector(connector.institution_id);
    }
  }
}

function connectorItem(connector) {
  return el("li", {
    class: "connector", "data-id": connector.institution_id, "data-state": "unknown",
    "data-testid": `connector-${connector.institution_id}`,
  },
  el("span", { text: `${connector.display_name} (${connector.standard})` }),
  el("span", { class: "check-result", role: "status", text: "not checked" }),
  el("button", {
    type: "button", text: "Check", "aria-label": `Check ${connector.display_name}`,
    onclick: () => checkConnector(connector.institution_id),
  }));
}

async function checkConnector(institutionId) {
  const item = () => document.querySelector(`.connector[data-id="${CSS.escape(institutionId)}"]`);
  const show = (state, text, title) => {
    const node = item();
    if (!node) return;
    node.dataset.state = state;
    node.querySelector(".check-result").textContent = text;
    if (title) node.title = title;
  };
  show("unknown", "checking…");
  try {
    const result = await api("POST", `/api/connectors/${encodeURIComponent(institutionId)}/check`);
    const steps = result.steps.map((step) => `${step.ok ? "✓" : "✗"} ${step.name}: ${step.detail}`).join("\n");
    show(result.state, `${result.state === "ok" ? "check passed" : result.state}: ${result.detail}`, steps);
  } catch (error) {
    show("failed", `check failed: ${error.message}`);
  }
}

// ---------------------------------------------------------------- log pane

// The log pane follows the conversation the person last wrote in.
function followInLog(psid) {
  const select = document.getElementById("trace-user");
  if (select.value === psid) return;
  select.value = psid;
  refreshTraces();
}

let tracesBusy = false;
async function refreshTraces() {
  const psid = document.getElementById("trace-user").value;
  const list = document.getElementById("traces");
  if (!psid) { list.replaceChildren(); return; }
  if (tracesBusy) return;
  tracesBusy = true;
  try {
    const data = await api("GET", `/api/users/${psid}/traces`);
    if (document.getElementById("trace-user").value !== psid) return;
    const signature = JSON.stringify(data.traces);
    if (list.dataset.signature === signature && list.dataset.psid === psid) return;
    list.dataset.signature = signature;
    list.dataset.psid = psid;
    list.replaceChildren(...data.traces.map(traceItem));
    list.scrollTop = list.scrollHeight;
  } catch (error) {
    list.replaceChildren(el("li", { class: "trace", text: `Log unavailable: ${error.message}` }));
  } finally {
    tracesBusy = false;
  }
}

function traceItem(trace) {
  const time = new Date(trace.posted_at_ms).toLocaleTimeString();
  return el("li", { class: "trace", "data-testid": "trace" },
    el("h3", {}, `${time} · ${trace.label} `, trace.mid ? el("code", { text: trace.mid }) : null),
    el("ol", { class: "steps" }, ...trace.steps.map(stepItem)));
}

function stepItem(step) {
  const meta = [];
  if (step.latency_ms !== null && step.latency_ms !== undefined) meta.push(`${step.latency_ms} ms`);
  if (step.interaction_id) meta.push(`x-fapi-interaction-id ${step.interaction_id}`);
  const good = step.status !== null && step.status < 400;
  return el("li", { class: "step", "data-kind": step.kind, "data-testid": `step-${step.kind}` },
    el("span", { class: "step-kind", text: step.kind }),
    el("span", { class: "step-summary", text: step.summary }),
    step.status !== null ? el("span", { class: `step-status ${good ? "ok" : "bad"}`, text: String(step.status) }) : null,
    meta.length ? el("span", { class: "step-meta", text: meta.join(" · ") }) : null);
}

async function refreshRawLog() {
  if (document.getElementById("raw-log").hidden) return;
  try {
    const data = await api("GET", `/api/logs?after=${rawLogAfter}`);
    const list = document.getElementById("raw-log");
    for (const entry of data.entries) {
      rawLogAfter = Math.max(rawLogAfter, entry.seq);
      const extras = Object.entries(entry.fields)
        .filter(([, value]) => typeof value !== "object")
        .map(([key, value]) => `${key}=${value}`).join(" ");
      list.append(el("li", { class: "raw-line", "data-testid": "raw-line" },
        el("span", { class: "component", text: `${entry.component} ` }),
        `${entry.level ? entry.level + " " : ""}${entry.message}${extras ? " · " + extras : ""}`,
        entry.correlation_id ? el("span", { class: "step-meta", text: ` [${entry.correlation_id}]` }) : null));
    }
    while (list.children.length > RAW_LOG_MAX) list.firstElementChild.remove();
    if (data.entries.length) list.scrollTop = list.scrollHeight;
  } catch {
    // the next refresh tries again
  }
}

// ---------------------------------------------------------------- bank events

async function loadCustomers() {
  try {
    const data = await api("GET", "/api/bank/customers");
    if (!data.customers.length) return;
    document.getElementById("bank-event-customer").replaceChildren(...data.customers.map((customer) =>
      el("option", { value: customer.login_id, text: `${customer.login_id} (${customer.name})` })));
  } catch {
    // keep the default option
  }
}

async function fireBankEvent(event) {
  event.preventDefault();
  const form = event.target;
  const result = document.getElementById("bank-event-result");
  const psid = form.elements.psid.value;
  if (!psid) { result.textContent = "Add a conversation first."; return; }
  result.className = "result";
  result.textContent = "Sending…";
  try {
    const record = await api("POST", `/api/users/${psid}/bank-events`,
      { type: form.elements.type.value, customer: form.elements.customer.value });
    const status = record.result.status;
    result.className = `result ${status !== null && status < 300 ? "" : status === 404 ? "warn" : "bad"}`;
    result.textContent = record.result.answer;
  } catch (error) {
    result.className = "result bad";
    result.textContent = `Could not send the event: ${error.message}`;
  }
  refreshTraces();
}

// ---------------------------------------------------------------- start

async function start() {
  document.getElementById("add-user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("new-user-name");
    const typed = input.value;
    const channel = document.getElementById("new-user-channel").value;
    const body = channel === "messenger" ? {} : { channel };
    if (typed.trim()) body.name = typed.trim();
    try {
      const user = await api("POST", "/api/users", body);
      if (input.value === typed) input.value = ""; // keep a name typed meanwhile
      await addUser(user, true);
    } catch (error) {
      input.setCustomValidity(error.message);
      input.reportValidity();
      input.setCustomValidity("");
    }
  });
  document.getElementById("bank-event-form").addEventListener("submit", fireBankEvent);
  document.getElementById("trace-user").addEventListener("change", refreshTraces);
  document.getElementById("raw-toggle").addEventListener("change", (event) => {
    document.getElementById("raw-log").hidden = !event.target.checked;
    document.getElementById("traces").hidden = event.target.checked;
    refreshRawLog();
  });
  try {
    whatsappTemplates = (await api("GET", "/api/whatsapp/templates")).templates;
  } catch { /* templates then show their name; the threads still work */ }
  openReplyStream(); // before any restore: a reply is then in the restore, the stream or both
  const { users } = await api("GET", "/api/users");
  await Promise.all(users.map((user) => addUser(user, false)));
  document.body.dataset.ready = "true";
  refreshStatus();
  loadCustomers();
  setInterval(refreshStatus, STATUS_REFRESH_MS);
  setInterval(() => { refreshTraces(); refreshRawLog(); }, TRACE_REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
