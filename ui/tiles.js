// The Gallery's tiles: one page of results drawn here from data, with no Streamlit widget of their own (ui/tiles.py).
// Star and Pick show their new state at once and tell the server what the person wants (on or off, not "toggle"),
// so a double press ends where the person left it; Full size asks for the large view. The server then draws the
// tiles again (pages/gallery.py), so what they show is always what it holds.
const SVG = 'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"';
const STAR = "12,2.8 14.5,9.4 21.5,9.7 16,14.1 17.9,20.9 12,17 6.1,20.9 8,14.1 2.5,9.7 9.5,9.4";
const ICONS = {
  star: `<svg ${SVG}><polygon points="${STAR}" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/></svg>`,
  starred: `<svg ${SVG}><polygon points="${STAR}" fill="currentColor" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/></svg>`,
  full: `<svg ${SVG}><path d="M14 4h6v6M20 4l-7 7M10 20H4v-6M4 20l7-7" fill="none" stroke="currentColor" stroke-width="2"/></svg>`,
};

function button(label, tool, pressed) {
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.tool = tool;
  if (tool === "pick") {
    b.textContent = label;
  } else {
    b.innerHTML = tool === "star" && pressed ? ICONS.starred : ICONS[tool];
    b.setAttribute("aria-label", label);
    b.title = label;
  }
  if (pressed !== null) b.setAttribute("aria-pressed", String(pressed));
  return b;
}

function tile(t, labels) {
  const box = document.createElement("div");
  box.className = "gallery-tile";
  box.dataset.job = String(t.id);
  box.dataset.kind = t.video ? "video" : "image";
  const picture = document.createElement("div");
  picture.className = "gallery-tile-picture";
  if (t.src) {
    const img = document.createElement("img");
    img.src = t.src;
    img.alt = t.alt;
    img.decoding = "async";
    picture.appendChild(img);
  }
  const meta = document.createElement("p");
  meta.className = "gallery-tile-meta";
  meta.textContent = t.meta;
  const prompt = document.createElement("p");
  prompt.className = "gallery-tile-prompt";
  prompt.textContent = t.prompt;
  prompt.title = t.alt;
  const tools = document.createElement("div");
  tools.className = "gallery-tile-tools";
  tools.setAttribute("role", "group");
  tools.setAttribute("aria-label", labels.group);
  tools.append(button(labels.star, "star", t.starred), button(labels.full, "full", null),
               button(labels.pick, "pick", t.picked));
  box.append(picture, meta, prompt, tools);
  return box;
}

export default function ({ parentElement, data, setTriggerValue }) {
  let root = parentElement.querySelector(":scope > .gallery-tiles");
  if (!root) {
    root = document.createElement("div");
    root.className = "gallery-tiles";
    parentElement.appendChild(root);
  }
  // A new draw is the server's state: the tiles are built from it, and the presses made since the last one are
  // forgotten (it holds them). The same draw again (a theme change) keeps what was pressed since.
  if (root.dataset.drawn !== data.drawn) {
    root.dataset.drawn = data.drawn;
    root.replaceChildren(...data.tiles.map((t) => tile(t, data.labels)));
    root.pending = new Map();
  }
  root.onclick = (event) => {
    const b = event.target.closest("button[data-tool]");
    if (!b || !root.contains(b)) return;
    const id = Number(b.closest(".gallery-tile").dataset.job);
    const tool = b.dataset.tool;
    let on = true;
    if (b.hasAttribute("aria-pressed")) {
      on = b.getAttribute("aria-pressed") !== "true";
      b.setAttribute("aria-pressed", String(on));
      if (tool === "star") b.innerHTML = on ? ICONS.starred : ICONS.star;
      root.pending.set(`${id}:${tool}`, { id, tool, on });
    }
    // Every press since the last draw goes with each one: Streamlit keeps only the newest event sent while a run is
    // under way, so two quick presses on two tiles would otherwise lose the first. Each says on or off, so one the
    // server has already applied changes nothing.
    const presses = [...root.pending.values()];
    if (tool === "full") presses.push({ id, tool, on });
    setTriggerValue("press", presses);
  };
}
