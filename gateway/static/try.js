// The try page: send a chosen image to POST analysis/<usage> as the raw body and show the answer.
// Plain browser JavaScript, no build step; everything it loads comes from this origin.
"use strict";

const $ = (id) => document.getElementById(id);
const usage = document.body.dataset.usage || "health-code";
const STATUS_WORDS = { green: "Green", yellow: "Yellow", red: "Red", invalid: "Not a health code" };
let current = null; // the File being shown
let imageUrl = null; // its blob: URL

function show(element, visible) {
  element.hidden = !visible;
}

function percent(x) {
  return `${(100 * x).toFixed(x >= 0.9995 || x < 0.0005 ? 1 : 2)} %`;
}

function choose(file) {
  if (!file) return;
  current = file;
  if (imageUrl) URL.revokeObjectURL(imageUrl);
  imageUrl = URL.createObjectURL(file);
  const img = $("image");
  show($("frame"), true);
  img.src = imageUrl;
  const kb = file.size < 1024 ? "< 1" : (file.size / 1024).toFixed(0);
  $("image-name").textContent =
    `${file.name || "pasted image"} · ${file.type || "unknown type"} · ${kb} KB`;
  clearBox();
  show($("preview"), true);
  $("again").disabled = false;
  send();
}

async function send() {
  if (!current) return;
  const url = `analysis/${encodeURIComponent(usage)}${$("read-time").checked ? "?read=time" : ""}`;
  const headers = { "Content-Type": current.type || "application/octet-stream" };
  const key = $("api-key").value.trim();
  if (key) headers["X-API-Key"] = key;
  waiting();
  let response;
  let body = null;
  try {
    response = await fetch(url, { method: "POST", body: current, headers });
    body = await response.json().catch(() => null);
  } catch (error) {
    refused({ code: "network_error", message: `No answer from the service: ${error.message}` });
    return;
  }
  $("http-status").textContent = `${response.status} ${response.statusText}`.trim();
  $("request-id").textContent =
    (body && body.request_id) || response.headers.get("X-Request-ID") || "–";
  if (response.ok && body && body.status) {
    answered(body);
  } else {
    const error = (body && body.error) || {
      code: `http_${response.status}`,
      message: "The service answered without an error body.",
    };
    refused(error);
  }
}

function waiting() {
  show($("result"), true);
  const verdict = $("verdict");
  verdict.className = "verdict waiting";
  verdict.textContent = "Checking…";
  delete verdict.dataset.status;
  show($("answer"), false);
  show($("refusal"), false);
  $("model-version").textContent = "–";
  $("request-id").textContent = "–";
  $("http-status").textContent = "–";
}

function answered(body) {
  const verdict = $("verdict");
  verdict.className = `verdict ${body.status}`;
  verdict.textContent = STATUS_WORDS[body.status] || body.status;
  verdict.dataset.status = body.status;
  $("confidence").textContent = `${percent(body.confidence)} confident`;
  drawScores(body.scores || {});
  showTime(body);
  $("model-version").textContent = body.model_version || "–";
  show($("answer"), true);
  show($("refusal"), false);
  drawBox(body.box);
}

function refused(error) {
  const verdict = $("verdict");
  verdict.className = "verdict refused";
  verdict.textContent = "Refused";
  verdict.dataset.status = "refused";
  $("error-code").textContent = error.code;
  $("error-message").textContent = error.message || "";
  show($("refusal"), true);
  show($("answer"), false);
  clearBox();
  if (error.code === "unauthorized") {
    show($("key-row"), true);
    $("key-row").classList.add("needed");
    $("api-key").focus();
  }
}

function drawScores(scores) {
  const list = $("scores");
  list.replaceChildren();
  for (const [label, value] of Object.entries(scores)) {
    const item = document.createElement("li");
    item.dataset.label = label;
    const name = document.createElement("span");
    name.textContent = label;
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("i");
    fill.className = label;
    fill.style.width = `${Math.max(0, Math.min(1, Number(value) || 0)) * 100}%`;
    bar.append(fill);
    const number = document.createElement("span");
    number.className = "value";
    number.textContent = percent(Number(value) || 0);
    item.append(name, bar, number);
    list.append(item);
  }
}

// `time` comes only when asked for (?read=time).
function showTime(body) {
  const box = $("time");
  show(box, "time" in body);
  if (!("time" in body)) return;
  const text = $("time-text");
  const age = $("time-age");
  age.replaceChildren();
  const time = body.time;
  if (!time) {
    text.textContent = "No time could be read.";
    return;
  }
  text.textContent = time.text || time.shown || "–";
  const parts = [];
  if (time.shown) parts.push(`shown ${time.shown}`);
  if (typeof time.age_s === "number") parts.push(`${describeAge(time.age_s)} old`);
  age.append(parts.join(" · "));
  if (typeof time.fresh === "boolean") {
    const mark = document.createElement("span");
    mark.className = time.fresh ? "fresh" : "stale";
    mark.textContent = time.fresh ? "fresh" : "not fresh";
    age.append(parts.length ? " · " : "", mark);
  }
}

function describeAge(seconds) {
  const s = Math.abs(seconds);
  const sign = seconds < 0 ? "−" : "";
  if (s < 120) return `${sign}${Math.round(s)} s`;
  if (s < 7200) return `${sign}${Math.round(s / 60)} min`;
  if (s < 172800) return `${sign}${(s / 3600).toFixed(1)} h`;
  return `${sign}${(s / 86400).toFixed(1)} days`;
}

// `box`: [x0, y0, x1, y1] in the image's pixels, when the service returns one.
function drawBox(box) {
  clearBox();
  if (!Array.isArray(box) || box.length !== 4 || !box.every(Number.isFinite)) return;
  const img = $("image");
  const draw = () => {
    const layer = $("box-layer");
    layer.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    const [x0, y0, x1, y1] = box;
    rect.setAttribute("x", Math.min(x0, x1));
    rect.setAttribute("y", Math.min(y0, y1));
    rect.setAttribute("width", Math.abs(x1 - x0));
    rect.setAttribute("height", Math.abs(y1 - y0));
    layer.replaceChildren(rect);
  };
  if (img.complete && img.naturalWidth) draw();
  else img.addEventListener("load", draw, { once: true });
}

function clearBox() {
  $("box-layer").replaceChildren();
}

function firstFile(list) {
  return list && list.length ? list[0] : null;
}

// Not every file the service is sent is one the browser can show (a text file, a HEIC photo).
$("image").addEventListener("error", () => show($("frame"), false));
$("file").addEventListener("change", (event) => choose(firstFile(event.target.files)));
$("again").addEventListener("click", send);
$("read-time").addEventListener("change", send);
$("api-key").addEventListener("keydown", (event) => {
  if (event.key === "Enter") send();
});

const drop = $("drop");
for (const name of ["dragenter", "dragover"]) {
  drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
}
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  choose(firstFile(event.dataTransfer.files));
});
// A file dropped beside the drop zone must not make the browser leave the page.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());
document.addEventListener("paste", (event) => choose(firstFile(event.clipboardData.files)));

if (document.body.dataset.apiKeys === "on") show($("key-row"), true);
