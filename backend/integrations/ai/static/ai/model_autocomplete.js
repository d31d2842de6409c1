/*
 * Model-id suggestions for the route inline on the model alias page.
 *
 * Each route's "model" input gets a <datalist> filled from the catalog
 * (/admin/ai/catalogmodel/model-ids/?q=...&provider=<pk>) as the admin types, so the ids offered
 * are the ones the chosen provider's kind knows. Plain DOM, no dependencies; rows added with
 * "Add another" work too because the listener is delegated from the document.
 */
"use strict";
(function () {
  const MODEL_INPUT = /^(.+)-model$/;
  const DELAY_MS = 200;
  const timers = new WeakMap();

  function endpoint() {
    const path = window.location.pathname;
    const at = path.indexOf("/ai/");
    const root = at >= 0 ? path.slice(0, at + 1) : "/admin/";
    return root + "ai/catalogmodel/model-ids/";
  }

  function routeInput(target) {
    if (!(target instanceof HTMLInputElement)) return null;
    const match = MODEL_INPUT.exec(target.name || "");
    if (!match || target.name.includes("__prefix__")) return null;
    return { input: target, prefix: match[1] };
  }

  function datalistFor(input) {
    const id = input.id + "-catalog-options";
    let list = document.getElementById(id);
    if (!list) {
      list = document.createElement("datalist");
      list.id = id;
      input.insertAdjacentElement("afterend", list);
      input.setAttribute("list", id);
      input.setAttribute("autocomplete", "off");
    }
    return list;
  }

  async function refresh(route) {
    const provider = document.querySelector('[name="' + route.prefix + '-provider"]');
    const params = new URLSearchParams({ q: route.input.value.trim() });
    if (provider && provider.value) params.set("provider", provider.value);
    let data;
    try {
      const response = await fetch(endpoint() + "?" + params.toString(), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      data = await response.json();
    } catch (error) {
      return; // suggestions are a convenience: typing still works without them
    }
    const list = datalistFor(route.input);
    list.replaceChildren(
      ...data.results.map(function (item) {
        const option = document.createElement("option");
        option.value = item.id;
        const price = item.prompt_per_million + " / " + item.completion_per_million + " per M";
        option.label = (item.name ? item.name + " · " : "") + price + (item.retired ? " · retired" : "");
        return option;
      })
    );
  }

  function schedule(event) {
    const route = routeInput(event.target);
    if (!route) return;
    clearTimeout(timers.get(route.input));
    timers.set(route.input, setTimeout(function () { refresh(route); }, DELAY_MS));
  }

  document.addEventListener("focusin", schedule);
  document.addEventListener("input", schedule);
})();
