/*
 * The admin playground: posts the form to the stream view and shows the reply as it arrives.
 *
 * The server answers with newline-delimited JSON events (backend/integrations/ai/playground.py):
 * {"type": "text", "text": ...} for each piece of the reply, then one {"type": "done", ...} with
 * provider, model, usage, cost, latency and attempts, or one {"type": "error", "message": ...}.
 * Plain fetch() and a ReadableStream reader: no library, nothing from the network but this page's
 * own server.
 */
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  function formatTokens(usage) {
    if (!usage || usage.total_tokens === null || usage.total_tokens === undefined) {
      return "not reported";
    }
    return usage.total_tokens + " (prompt " + usage.prompt_tokens + ", completion " + usage.completion_tokens + ")";
  }

  function Run(form) {
    this.output = byId("playground-output");
    this.status = byId("playground-status");
    this.error = byId("playground-error");
    this.result = byId("playground-result");
    this.button = byId("playground-run");
    this.form = form;
    this.ended = false;
    this.pieces = 0;
  }

  Run.prototype.reset = function () {
    this.output.textContent = "";
    this.output.dataset.pieces = "0";
    this.error.hidden = true;
    this.error.textContent = "";
    this.result.hidden = true;
    this.status.textContent = "Waiting for the first words…";
    this.button.disabled = true;
  };

  Run.prototype.handle = function (event) {
    if (event.type === "text") {
      this.output.append(document.createTextNode(event.text));
      this.pieces += 1;
      this.output.dataset.pieces = String(this.pieces);
      this.status.textContent = "Receiving…";
    } else if (event.type === "done") {
      this.ended = true;
      byId("result-provider").textContent = event.provider;
      byId("result-model").textContent = event.model;
      byId("result-tokens").textContent = formatTokens(event.usage);
      byId("result-cost").textContent = event.cost === null ? "not reported" : "$" + event.cost;
      byId("result-latency").textContent = Math.round(event.latency_ms) + " ms";
      byId("result-attempts").textContent = String(event.attempts);
      this.result.hidden = false;
      this.status.textContent = "Done: " + this.pieces + " pieces" + (event.finish_reason ? ", finish reason " + event.finish_reason : "") + ".";
    } else if (event.type === "error") {
      this.fail(event.message + (event.partial ? " (the text above is what arrived before it broke)" : ""));
    }
  };

  Run.prototype.fail = function (message) {
    this.ended = true;
    this.error.textContent = message;
    this.error.hidden = false;
    this.status.textContent = "Failed.";
  };

  Run.prototype.consume = function (buffer) {
    let newline = buffer.indexOf("\n");
    while (newline >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line) {
        this.handle(JSON.parse(line));
      }
      newline = buffer.indexOf("\n");
    }
    return buffer;
  };

  Run.prototype.start = async function () {
    this.reset();
    try {
      const response = await fetch(this.form.dataset.streamUrl, {
        method: "POST",
        body: new FormData(this.form),
        credentials: "same-origin",
        headers: { Accept: "application/x-ndjson" },
      });
      const type = response.headers.get("content-type") || "";
      if (!response.body || type.indexOf("ndjson") < 0) {
        throw new Error("The server answered " + response.status + " " + response.statusText + ".");
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) {
          break;
        }
        buffer = this.consume(buffer + decoder.decode(chunk.value, { stream: true }));
      }
      this.consume(buffer + decoder.decode() + "\n");
      if (!this.ended) {
        this.fail("The connection closed before the reply ended.");
      }
    } catch (err) {
      this.fail(err.message || String(err));
    } finally {
      this.button.disabled = false;
    }
  };

  document.addEventListener("DOMContentLoaded", function () {
    const form = byId("playground-form");
    if (!form) {
      return;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      new Run(form).start();
    });
  });
})();
