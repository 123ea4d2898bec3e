// The page of `cmpc-video serve`: upload a clip, add sentences, follow the job, play the overlay.
// Talks to the server's /v1 API (docs/serve.md): GET /v1/info, POST /v1/jobs (multipart), the job's
// server-sent events (polling GET /v1/jobs/{id} when they fail), DELETE to cancel, and the job's outputs.
// #status reads exactly `done` when a job is done and `failed: <error>` when it failed (the browser
// test in Tools/browser waits for it).
"use strict";

(function () {
  const TOKEN_KEY = "cmpc-video-token";
  const TERMINAL = new Set(["done", "failed", "cancelled"]);
  const $ = (id) => document.getElementById(id);

  const form = $("job-form");
  const fileInput = $("file");
  const drop = $("drop");
  const dropText = $("drop-text");
  const sentences = $("sentences");
  const segmentButton = $("segment");
  const errorBox = $("error");
  const jobBox = $("job");
  const progress = $("progress");
  const statusText = $("status");
  const framesText = $("frames");
  const cancelButton = $("cancel");
  const resultBox = $("result");
  const tokenRow = $("token-row");
  const tokenInput = $("token");

  let info = null;          // GET /v1/info, once read
  let chosenFile = null;    // the File to upload (from the input or a drop)
  let jobId = null;         // the job followed now
  let events = null;        // its EventSource
  let pollTimer = null;     // or its polling timer
  let upload = null;        // the XMLHttpRequest while uploading

  // ---- token -------------------------------------------------------------------------------------

  function token() {
    return tokenInput.value.trim();
  }

  function headers() {
    const t = token();
    return t ? { Authorization: "Bearer " + t } : {};
  }

  // A URL with ?access_token= added when a token is set (EventSource and <video src> send no headers).
  function withToken(url) {
    const t = token();
    if (!t) return url;
    const u = new URL(url, location.href);
    if (!u.searchParams.has("access_token")) u.searchParams.set("access_token", t);
    return u.pathname + u.search;
  }

  function showTokenField(message) {
    tokenRow.hidden = false;
    if (message) showError(message);
  }

  tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || "";
  tokenInput.addEventListener("change", () => {
    sessionStorage.setItem(TOKEN_KEY, token());
    loadInfo();
  });

  // ---- messages ----------------------------------------------------------------------------------

  function showError(message) {
    errorBox.textContent = message;
  }

  function clearError() {
    errorBox.textContent = "";
  }

  // The error text of a failed API answer: the server's {"error": …}, else the HTTP status.
  function errorText(status, body, statusLine) {
    let message = "";
    try {
      const parsed = typeof body === "string" ? JSON.parse(body) : body;
      if (parsed && parsed.error) message = String(parsed.error);
    } catch (_) { /* not JSON */ }
    if (!message) {
      message = statusLine || "HTTP " + status;
      // A short plain-text body says more than the status; an HTML error page does not.
      if (typeof body === "string" && body.trim() && !body.trim().startsWith("<")) message += ": " + body.trim().slice(0, 200);
    }
    return message;
  }

  async function api(method, path) {
    const response = await fetch(withToken(path), { method, headers: headers(), cache: "no-store" });
    const text = await response.text();
    if (response.status === 401) showTokenField();
    if (!response.ok) {
      const err = new Error(errorText(response.status, text, response.status + " " + response.statusText));
      err.status = response.status;
      throw err;
    }
    return text ? JSON.parse(text) : null;
  }

  // ---- server info -------------------------------------------------------------------------------

  async function loadInfo() {
    try {
      info = await api("GET", "/v1/info");
      if (info.token_required) tokenRow.hidden = false;
      const parts = [];
      if (info.model) parts.push("model " + info.model);
      if (info.precision) parts.push(info.precision);
      if (info.max_upload_mb) parts.push("uploads up to " + info.max_upload_mb + " MB");
      if (info.max_frames) parts.push("at most " + info.max_frames + " frames");
      if (info.version) parts.push("cmpc-video " + info.version);
      $("server-info").textContent = parts.join(" · ");
      clearError();
    } catch (err) {
      if (err.status === 401) {
        $("server-info").textContent = "This server needs an access token.";
        showTokenField(token() ? "The access token was refused: " + err.message : "");
      } else {
        $("server-info").textContent = "Could not read the server's information: " + err.message;
      }
    }
  }

  // ---- file: input and drop zone -----------------------------------------------------------------

  function chooseFile(file) {
    chosenFile = file || null;
    if (!chosenFile) {
      dropText.textContent = "Drop a file here, or choose one";
      return;
    }
    dropText.textContent = chosenFile.name + " (" + formatSize(chosenFile.size) + ")";
    clearError();
    const tooLarge = sizeProblem(chosenFile);
    if (tooLarge) showError(tooLarge);
  }

  // Why the server would refuse `file` for its size (it answers 413 and closes the connection, which a
  // browser reports as a failed upload), or "".
  function sizeProblem(file) {
    if (!info || !info.max_upload_mb || file.size <= info.max_upload_mb * 1024 * 1024) return "";
    return file.name + " is " + formatSize(file.size) + "; this server takes uploads up to " +
      info.max_upload_mb + " MB (serve --max-upload-mb). Cut the clip shorter or pick a smaller file.";
  }

  function formatSize(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1) + " MB";
    if (bytes >= 1024) return (bytes / 1024).toFixed(1) + " kB";
    return bytes + " bytes";
  }

  fileInput.addEventListener("change", () => chooseFile(fileInput.files[0]));
  ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (event) => {
    event.preventDefault();
    drop.classList.add("dragover");
  }));
  ["dragleave", "dragend"].forEach((type) => drop.addEventListener(type, () => drop.classList.remove("dragover")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dragover");
    const files = event.dataTransfer && event.dataTransfer.files;
    if (!files || files.length === 0) return;
    try { fileInput.files = files; } catch (_) { /* older browsers: keep chosenFile only */ }
    chooseFile(files[0]);
  });
  // Dropping a file anywhere else would navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  // ---- sentences ---------------------------------------------------------------------------------

  function addSentence(text) {
    const item = $("sentence-template").content.firstElementChild.cloneNode(true);
    const input = item.querySelector("input");
    input.value = text || "";
    item.querySelector(".remove").addEventListener("click", () => {
      item.remove();
      renumber();
      const last = sentences.querySelector("li:last-child input");
      if (last) last.focus();
    });
    sentences.appendChild(item);
    renumber();
    return input;
  }

  function renumber() {
    const items = sentences.querySelectorAll("li");
    items.forEach((item, i) => {
      const id = "sentence-" + (i + 1);
      item.querySelector(".n").textContent = String(i + 1);
      item.querySelector("label").htmlFor = id;
      item.querySelector("input").id = id;
      const remove = item.querySelector(".remove");
      remove.setAttribute("aria-label", "Remove sentence " + (i + 1));
      remove.hidden = items.length === 1;
    });
  }

  $("add-sentence").addEventListener("click", () => addSentence("").focus());
  addSentence("");

  function sentenceTexts() {
    return Array.from(sentences.querySelectorAll("input")).map((input) => input.value.trim()).filter((t) => t);
  }

  // ---- submit ------------------------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    const file = chosenFile || fileInput.files[0];
    const texts = sentenceTexts();
    if (!file) {
      showError("Choose a video or an image first (the file field, or drop one on it).");
      fileInput.focus();
      return;
    }
    if (sizeProblem(file)) {
      showError(sizeProblem(file));
      return;
    }
    if (texts.length === 0) {
      showError("Write at least one sentence describing the actor to segment.");
      sentences.querySelector("input").focus();
      return;
    }
    const data = new FormData();
    data.append("file", file, file.name);
    texts.forEach((t) => data.append("text", t));
    ["threshold", "every", "start", "end"].forEach((name) => {
      const value = $(name).value.trim();
      if (value !== "") data.append(name, value);
    });
    submit(data);
  });

  function submit(data) {
    stopFollowing();
    jobId = null;
    resultBox.hidden = true;
    $("overlay-box").textContent = "";
    jobBox.hidden = false;
    cancelButton.hidden = false;
    segmentButton.disabled = true;
    progress.value = 0;
    framesText.textContent = "";
    statusText.textContent = "uploading";

    const xhr = new XMLHttpRequest();
    upload = xhr;
    xhr.open("POST", withToken("/v1/jobs"));
    const h = headers();
    Object.keys(h).forEach((k) => xhr.setRequestHeader(k, h[k]));
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        progress.value = event.loaded / event.total;
        framesText.textContent = formatSize(event.loaded) + " of " + formatSize(event.total) + " sent";
      }
    });
    xhr.addEventListener("load", () => {
      upload = null;
      if (xhr.status === 202 || xhr.status === 200 || xhr.status === 201) {
        let job;
        try { job = JSON.parse(xhr.responseText); } catch (_) { job = null; }
        if (!job || !job.id) {
          finish("failed: the server's answer to the upload has no job id");
          return;
        }
        jobId = job.id;
        progress.value = 0;
        framesText.textContent = "";
        update(job);
        follow(job.id);
        return;
      }
      let message = errorText(xhr.status, xhr.responseText, xhr.status + " " + xhr.statusText);
      if (xhr.status === 401) {
        showTokenField();
        message = (token() ? "The access token was refused" : "This server needs an access token") +
          ": type the token the server was started with (--token) in the Access token field, then Segment again." +
          " (The server said: " + message + ")";
        tokenInput.focus();
      }
      if (xhr.status === 429) {
        const wait = xhr.getResponseHeader("Retry-After");
        message = "The server is busy (" + message + ")" + (wait ? "; try again in " + wait + " s." : "; try again later.");
      }
      showError(message);
      notStarted();
    });
    xhr.addEventListener("error", () => {
      upload = null;
      showError("The upload failed: the server did not answer (is it still running?).");
      notStarted();
    });
    xhr.addEventListener("abort", () => {
      upload = null;
      finish("cancelled");
    });
    xhr.send(data);
  }

  // ---- following a job ---------------------------------------------------------------------------

  function follow(id) {
    if (typeof EventSource === "function") {
      let sawEvent = false;
      const source = new EventSource(withToken("/v1/jobs/" + id + "/events"));
      events = source;
      source.addEventListener("message", (event) => {
        if (id !== jobId) return;
        sawEvent = true;
        let job;
        try { job = JSON.parse(event.data); } catch (_) { return; }
        update(job);
      });
      source.addEventListener("error", () => {
        // The stream ends after a terminal status (handled in update); any other end falls back to polling.
        if (events !== source) return;
        source.close();
        events = null;
        if (id === jobId) poll(id, sawEvent ? 0 : 250);
      });
    } else {
      poll(id, 0);
    }
  }

  function poll(id, delay) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      if (id !== jobId) return;
      try {
        const job = await api("GET", "/v1/jobs/" + id);
        if (id !== jobId) return;
        update(job);
        if (!TERMINAL.has(job.status)) poll(id, 1000);
      } catch (err) {
        if (id !== jobId) return;
        if (err.status === 404 || err.status === 410) {
          finish("failed: the job is gone (" + err.message + ")");
        } else if (err.status) {
          finish("failed: " + err.message);
        } else {
          poll(id, 2000);  // the network hiccuped: try again
        }
      }
    }, delay);
  }

  function stopFollowing() {
    if (events) { events.close(); events = null; }
    clearTimeout(pollTimer);
    pollTimer = null;
  }

  // Shows a status answer (the same JSON from the events, polling and DELETE).
  function update(job) {
    if (typeof job.progress === "number") progress.value = job.progress;
    if (job.kind !== "image" && typeof job.frames === "number" && job.frames > 0) {
      framesText.textContent = (job.frames_done || 0) + " / " + job.frames + " frames";
    }
    if (job.status === "done") {
      progress.value = 1;
      finish("done");
      showResult(job);
    } else if (job.status === "failed") {
      finish("failed: " + (job.error || "the server gave no reason"));
    } else if (job.status === "cancelled") {
      finish("cancelled");
    } else {
      statusText.textContent = job.status || "";
    }
  }

  function finish(text) {
    stopFollowing();
    statusText.textContent = text;
    cancelButton.hidden = true;
    segmentButton.disabled = false;
  }

  // The upload was refused or broke: no job to show, the error says why.
  function notStarted() {
    finish("not started");
    jobBox.hidden = true;
  }

  // ---- cancel ------------------------------------------------------------------------------------

  cancelButton.addEventListener("click", async () => {
    if (upload) { upload.abort(); return; }
    if (!jobId) return;
    const id = jobId;
    cancelButton.disabled = true;
    try {
      const job = await api("DELETE", "/v1/jobs/" + id);
      jobId = null;
      stopFollowing();
      if (job && job.status && job.status !== "cancelled") update(job);
      else finish("cancelled");
    } catch (err) {
      showError("Could not cancel the job: " + err.message);
    } finally {
      cancelButton.disabled = false;
    }
  });

  // ---- result ------------------------------------------------------------------------------------

  function outputURL(job, key, fallback) {
    const outputs = job.outputs || {};
    return withToken(outputs[key] || "/v1/jobs/" + job.id + "/" + fallback);
  }

  function showResult(job) {
    const box = $("overlay-box");
    box.textContent = "";
    const isImage = job.kind === "image";
    const overlay = document.createElement(isImage ? "img" : "video");
    overlay.id = "overlay";
    if (isImage) {
      overlay.alt = "The image with each sentence's mask drawn in its colour";
      overlay.addEventListener("load", () => {
        if (overlay.naturalWidth > 0) overlay.style.maxWidth = overlay.naturalWidth * 4 + "px";
      });
    } else {
      overlay.controls = true;
      overlay.playsInline = true;
      overlay.preload = "auto";  // overlays are small: load it all, so it plays at once
      overlay.setAttribute("aria-label", "The clip with each sentence's mask drawn in its colour");
      // A small clip is shown at up to 4× its size, not stretched to any width.
      overlay.addEventListener("loadedmetadata", () => {
        if (overlay.videoWidth > 0) overlay.style.maxWidth = overlay.videoWidth * 4 + "px";
      });
      overlay.addEventListener("error", () => {
        showError("The overlay video could not be played (" + (overlay.error ? "media error " + overlay.error.code : "unknown error") +
          "); download it from " + overlay.src);
      });
    }
    overlay.src = outputURL(job, "overlay", isImage ? "overlay.png" : "overlay.mp4");
    box.appendChild(overlay);

    const list = $("sentence-list");
    list.textContent = "";
    const unknown = job.unknown_words || [];
    (job.sentences || []).forEach((sentence, i) => {
      const item = document.createElement("li");
      const quote = document.createElement("q");
      quote.textContent = sentence;
      item.appendChild(quote);
      const words = unknown[i] || [];
      if (words.length > 0) {
        const note = document.createElement("span");
        note.className = "unknown";
        note.textContent = " unknown words (not in the model's vocabulary, left out): " + words.join(", ");
        item.appendChild(note);
      }
      list.appendChild(item);
    });

    $("download-zip").href = outputURL(job, "masks.zip", "masks.zip");
    $("download-json").href = outputURL(job, "masks.json", "masks.json");
    resultBox.hidden = false;
  }

  loadInfo();
})();
