// The openclrs trace viewer: draws the JSON in #trace-data (format
// openclrs.viewer/1, see openclrs/pictures/viewer.py) with SVG, from what the
// spec says each probe is. Plain JavaScript, no libraries, no network.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("trace-data").textContent);
  const SPEC = DATA.spec; // probe -> [stage, location, type]
  const N = DATA.nodes;
  const LAYOUT = DATA.layout;
  const POINTERS = ["pointer", "should_be_permutation", "permutation_pointer"];
  const LAYOUT_EDGES = ["A", "adj"]; // a graph's input edges, drawn as lines

  const NODE = "#d9d9d9", MARKED = "#f28e2b", EDGE = "#b8b8b8", MARKED_EDGE = "#f28e2b";
  const WRONG = "#d62728", LABEL = "#6a3d9a", INPUT_POINTER = "#a5b3c4";
  const CLASS_COLOURS = ["#d9d9d9", "#76b7b2", "#f28e2b", "#59a14f", "#edc948", "#b07aa1",
    "#9c755f", "#ff9da7"];
  const POINTER_COLOURS = ["#4e79a7", "#59a14f", "#b07aa1", "#9c755f", "#e377c2"];
  // the main drawing's box (more room for many nodes; a row of characters is low)
  const BIG = N > 24;
  const W = BIG ? 600 : 440, H = LAYOUT === "string" ? 170 : BIG ? 540 : 330;

  // ------------------------------------------------------------------ frames
  // The slider walks through the input, every hint step and the output.
  const FRAMES = [{ title: "input", kind: "input" }];
  DATA.steps.forEach(function (_, t) {
    FRAMES.push({ title: "step " + t, kind: "step", t: t });
  });
  FRAMES.push({ title: "output", kind: "output" });

  function stateOf(frame, side) {
    // probe -> value for one panel, the wrong masks and the score
    const probes = Object.assign({}, DATA.inputs);
    let wrong = {}, score = null;
    const part = frame.kind === "step" ? DATA.steps[frame.t]
      : frame.kind === "output" ? DATA.output : null;
    if (part) {
      Object.assign(probes, part.truth);
      if (side === "prediction") {
        Object.assign(probes, part.prediction || {});
        wrong = part.wrong || {};
        score = part.score;
      }
    }
    return { probes: probes, wrong: wrong, score: score };
  }

  // ----------------------------------------------------------------- helpers
  function esc(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;")
      .replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  function loc(name) { return SPEC[name][1]; }
  function type(name) { return SPEC[name][2]; }
  function argmax(v) {
    let best = 0;
    for (let k = 1; k < v.length; k++) if (v[k] > v[best]) best = k;
    return best;
  }
  function fmt(name, v) {
    if (v === null || v === undefined) return "\u2014";
    if (Array.isArray(v)) { // a categorical's classes
      if (v.every(function (x) { return x === -1; })) return "masked";
      return "class " + argmax(v) + " [" + v.map(function (x) { return fmt(name, x); }).join(" ") + "]";
    }
    if (POINTERS.indexOf(type(name)) >= 0) return "\u2192 " + v;
    if (Number.isInteger(v)) return String(v);
    return Number(v.toPrecision(4)).toString();
  }
  function short(v) {
    if (v === null || v === undefined) return "\u2014";
    if (Number.isInteger(v)) return String(v);
    return Number(v.toPrecision(2)).toString();
  }
  function isWrong(mask) {
    // a wrong mask's element: a number, or (for a graph probe) a whole array
    if (Array.isArray(mask)) return mask.some(isWrong);
    return mask !== null && mask !== undefined && mask > 0.5;
  }
  function wrongAt(state, k, i) {
    // is node i's element of probe k wrong? A node mask_one has one flag for
    // the whole probe: it is drawn at the node the prediction names.
    const m = state.wrong[k];
    if (m === undefined || m === null) return false;
    if (Array.isArray(m)) return isWrong(m[i]);
    return isWrong(m) && argmax(state.probes[k]) === i;
  }
  function mix(a, b, f) {
    const pa = [1, 3, 5].map(function (i) { return parseInt(a.substr(i, 2), 16); });
    const pb = [1, 3, 5].map(function (i) { return parseInt(b.substr(i, 2), 16); });
    return "rgb(" + pa.map(function (x, i) { return Math.round(x + (pb[i] - x) * f); }).join(",") + ")";
  }
  const VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
  function viridis(f) {
    f = Math.min(1, Math.max(0, isFinite(f) ? f : 0)) * (VIRIDIS.length - 1);
    const k = Math.min(VIRIDIS.length - 2, Math.floor(f));
    return mix(VIRIDIS[k], VIRIDIS[k + 1], f - k);
  }

  // The range of each scalar-like probe over every frame and both sides, so
  // that a colour means the same value at every step.
  const RANGES = {};
  function widen(name, v) {
    if (Array.isArray(v)) { v.forEach(function (x) { widen(name, x); }); return; }
    if (v === null || typeof v !== "number") return;
    const r = RANGES[name] || (RANGES[name] = [v, v]);
    r[0] = Math.min(r[0], v); r[1] = Math.max(r[1], v);
  }
  function eachValue(fn) {
    Object.keys(DATA.inputs).forEach(function (k) { fn(k, DATA.inputs[k]); });
    DATA.steps.concat([DATA.output]).forEach(function (part) {
      ["truth", "prediction"].forEach(function (side) {
        const probes = part[side] || {};
        Object.keys(probes).forEach(function (k) { fn(k, probes[k]); });
      });
    });
  }
  eachValue(widen);

  // ----------------------------------------------------------------- layout
  // Node positions come from the inputs only, so they stay put across steps.
  const BASE = (function () {
    const inputs = DATA.inputs;
    let pos = [], bars = null, needle = null, chars = null;
    for (let i = 0; i < N; i++) {
      if (LAYOUT === "graph") {
        const a = Math.PI / 2 - 2 * Math.PI * i / N;
        pos.push([Math.cos(a), Math.sin(a)]);
      } else if (LAYOUT === "points") {
        pos.push([inputs.x[i], inputs.y[i]]);
      } else {
        pos.push([i, 0]);
      }
    }
    if (LAYOUT === "array") { // bars: the first scalar node input after pos
      const name = Object.keys(inputs).find(function (k) {
        return k !== "pos" && loc(k) === "node" && type(k) === "scalar";
      });
      if (name) {
        bars = { name: name, values: inputs[name] };
        pos = pos.map(function (p, i) { return [p[0], inputs[name][i] || 0]; });
      }
    }
    if (LAYOUT === "string" && inputs.string) { // the needle under the haystack
      needle = inputs.string.map(function (v) { return v > 0.5; });
      const first = needle.indexOf(true);
      pos = pos.map(function (p, i) { return needle[i] ? [p[0] - first, -1] : p; });
    }
    const charName = Object.keys(inputs).find(function (k) {
      return loc(k) === "node" && type(k) === "categorical";
    });
    if (charName) {
      chars = inputs[charName].map(function (v) {
        return "abcdefghijklmnopqrstuvwxyz".charAt(argmax(v)) || String(argmax(v));
      });
    }
    // data coordinates -> the drawing's box (y up), equal scales for
    // graphs and points, bars standing on zero
    let lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
    pos.forEach(function (p) {
      for (let d = 0; d < 2; d++) { lo[d] = Math.min(lo[d], p[d]); hi[d] = Math.max(hi[d], p[d]); }
    });
    if (LAYOUT === "array") { lo[1] = Math.min(lo[1], 0); hi[1] = Math.max(hi[1], 0); }
    const span = [Math.max(hi[0] - lo[0], 1e-9), Math.max(hi[1] - lo[1], 1e-9)];
    const margin = [36, 34];
    let sx = (W - 2 * margin[0]) / span[0], sy = (H - 2 * margin[1]) / span[1];
    if (LAYOUT === "graph" || LAYOUT === "points") sx = sy = Math.min(sx, sy);
    if (LAYOUT === "string") sx = sy = Math.min(sx, 46);
    if (hi[1] - lo[1] < 1e-9) sy = 1;
    const ox = (W - sx * span[0]) / 2 - sx * lo[0];
    const oy = (H + sy * span[1]) / 2 + sy * lo[1];
    function screen(p) { return [ox + sx * p[0], oy - sy * p[1]]; }
    const spacing = LAYOUT === "graph" ? 2 * Math.PI * Math.min(sx, sy) / N
      : LAYOUT === "points" ? 24 : sx;
    const radius = Math.max(3, Math.min(12, 0.32 * spacing));
    return { screen: screen, points: pos.map(screen), bars: bars, needle: needle, chars: chars,
      radius: radius, zero: screen([0, 0])[1], barWidth: 0.7 * sx };
  })();

  // The node-colour probe: the menu's choice, or (auto) the first node mask
  // or categorical in the state, as in the PNG pictures.
  function colourCandidates(probes) {
    return Object.keys(probes).filter(function (k) {
      if (loc(k) !== "node" || k === "adj") return false;
      if (LAYOUT === "string" && (k === "string" || k === "key")) return false;
      return type(k) === "mask" || type(k) === "categorical";
    });
  }
  let colourChoice = "auto";

  function nodeFill(name, v) {
    if (v === null || v === undefined) return "#ffffff";
    if (type(name) === "mask") return v < 0 ? "#ffffff" : v > 0.5 ? MARKED : NODE;
    if (v.every(function (x) { return x === -1; })) return "#ffffff";
    return CLASS_COLOURS[argmax(v) % CLASS_COLOURS.length];
  }

  // ---------------------------------------------------------------- drawing
  function arrow(p, q, r, colour, dashed, tip) {
    // a curved arrow from p to q that stops short of both nodes
    const dx = q[0] - p[0], dy = q[1] - p[1], d = Math.hypot(dx, dy);
    if (d < 1e-6) return "";
    const ux = dx / d, uy = dy / d;
    const bend = 0.22 * d;
    const cx = (p[0] + q[0]) / 2 - uy * bend, cy = (p[1] + q[1]) / 2 + ux * bend;
    function toward(a, b, by) {
      const ex = b[0] - a[0], ey = b[1] - a[1], l = Math.hypot(ex, ey) || 1;
      return [a[0] + ex / l * by, a[1] + ey / l * by];
    }
    const s = toward(p, [cx, cy], r + 1), e = toward(q, [cx, cy], r + 2);
    const tx = e[0] - cx, ty = e[1] - cy, tl = Math.hypot(tx, ty) || 1;
    const hx = tx / tl, hy = ty / tl, size = 7;
    const head = [e, [e[0] - hx * size - hy * size * 0.45, e[1] - hy * size + hx * size * 0.45],
      [e[0] - hx * size + hy * size * 0.45, e[1] - hy * size - hx * size * 0.45]];
    const t = tip ? ' data-tip="' + esc(tip) + '"' : "";
    return '<path d="M' + s[0].toFixed(1) + "," + s[1].toFixed(1) + " Q" + cx.toFixed(1) + "," +
      cy.toFixed(1) + " " + e[0].toFixed(1) + "," + e[1].toFixed(1) + '" fill="none" stroke="' +
      colour + '" stroke-width="' + (dashed ? 2 : 1.4) + '"' + (dashed ? ' stroke-dasharray="4 2"' : "") +
      t + "/>" + '<polygon points="' + head.map(function (h) {
      return h[0].toFixed(1) + "," + h[1].toFixed(1);
    }).join(" ") + '" fill="' + colour + '"/>';
  }

  function nodeTip(state, i) {
    const lines = ["node " + i + (BASE.chars ? " '" + BASE.chars[i] + "'" : "")];
    Object.keys(state.probes).forEach(function (k) {
      if (loc(k) !== "node") return;
      const bad = wrongAt(state, k, i);
      const whole = !Array.isArray(state.wrong[k]) && type(k) === "mask_one";
      lines.push(k + " = " + fmt(k, state.probes[k][i]) + (bad ? "   \u2717 wrong" +
        (whole ? " (truth: node " + argmax(state.truth[k]) + ")"
          : truthNote(state, k, function (v) { return v[i]; })) : ""));
    });
    return lines.join("\n");
  }
  function truthNote(state, name, at) {
    const truth = state.truth && state.truth[name];
    return truth === undefined ? "" : " (truth " + fmt(name, at(truth)) + ")";
  }
  function edgeTip(state, i, j) {
    const lines = ["edge " + i + " \u2192 " + j];
    Object.keys(state.probes).forEach(function (k) {
      if (loc(k) !== "edge") return;
      const bad = state.wrong[k] && isWrong(state.wrong[k][i][j]);
      lines.push(k + "[" + i + "," + j + "] = " + fmt(k, state.probes[k][i][j]) +
        (bad ? "   \u2717 wrong" + truthNote(state, k, function (v) { return v[i][j]; }) : ""));
    });
    return lines.join("\n");
  }

  function drawMain(state, legend) {
    const probes = state.probes, wrong = state.wrong, pts = BASE.points, r = BASE.radius;
    const out = [];
    // Every wrong element is marked once, by the one drawn thing that carries
    // its name in data-wrong: "name[i]" for a node, "name[i,j]" for an edge,
    // "name" for a graph probe or a node mask_one (one flag for the probe).
    // A node's red ring stands for its wrong node probes, but for the scalar
    // written under the nodes, whose wrong values are written in red instead
    // (a scalar is wrong beyond a tolerance: rings would cover every node).
    const scalar = Object.keys(probes).find(function (k) {
      return loc(k) === "node" && type(k) === "scalar" && SPEC[k][0] !== "input";
    });
    const nodeMarks = new Array(N).fill(null).map(function () { return []; });
    Object.keys(wrong).forEach(function (k) {
      if (SPEC[k] && loc(k) === "node" && probes[k] && k !== scalar) {
        const whole = !Array.isArray(wrong[k]);
        for (let i = 0; i < N; i++) {
          if (wrongAt(state, k, i)) nodeMarks[i].push(whole ? k : k + "[" + i + "]");
        }
      }
      // an edge mask's wrong self-loop (no line to draw) rings its node
      if (SPEC[k] && loc(k) === "edge" && LAYOUT === "graph" && type(k) === "mask") {
        for (let i = 0; i < N; i++) {
          if (isWrong(wrong[k][i][i])) nodeMarks[i].push(k + "[" + i + "," + i + "]");
        }
      }
    });

    // the layout's own drawing: a graph's edges, an array's bars
    if (LAYOUT === "graph") {
      const weights = probes.A, adj = probes.adj;
      let top = 0;
      if (weights) weights.forEach(function (row) {
        row.forEach(function (w) { top = Math.max(top, Math.abs(w || 0)); });
      });
      for (let i = 0; i < N; i++) {
        for (let j = i + 1; j < N; j++) {
          const on = adj ? (adj[i][j] > 0 || adj[j][i] > 0)
            : weights ? (weights[i][j] !== 0 || weights[j][i] !== 0) : false;
          if (!on) continue;
          const w = weights && top > 0 ? Math.max(Math.abs(weights[i][j] || 0),
            Math.abs(weights[j][i] || 0)) / top : 1;
          out.push('<line x1="' + pts[i][0].toFixed(1) + '" y1="' + pts[i][1].toFixed(1) +
            '" x2="' + pts[j][0].toFixed(1) + '" y2="' + pts[j][1].toFixed(1) + '" stroke="' +
            EDGE + '" stroke-width="' + (N > 16 ? 0.4 + w : 1 + 3 * w).toFixed(2) +
            (BIG ? '" stroke-opacity="0.45' : "") +
            '" data-edge="' + i + "," + j + '"/>');
        }
      }
      if (weights || adj) legend.push("lines: " + (weights ? "A (width = weight)" : "adj"));
    }
    if (BASE.bars) {
      for (let i = 0; i < N; i++) {
        const x = pts[i][0] - BASE.barWidth / 2, y = Math.min(pts[i][1], BASE.zero);
        out.push('<rect x="' + x.toFixed(1) + '" y="' + y.toFixed(1) + '" width="' +
          BASE.barWidth.toFixed(1) + '" height="' + Math.abs(BASE.zero - pts[i][1]).toFixed(1) +
          '" fill="#e8e8e8" stroke="#c8c8c8" data-node="' + i + '"/>');
      }
      legend.push("bars: " + BASE.bars.name);
    }

    // edge masks on a graph: the edges they mark, thick
    const heatmaps = [];
    Object.keys(probes).forEach(function (k) {
      if (loc(k) !== "edge" || LAYOUT_EDGES.indexOf(k) >= 0) return;
      if (LAYOUT === "graph" && type(k) === "mask") {
        const v = probes[k], bad = wrong[k];
        for (let i = 0; i < N; i++) {
          for (let j = i + 1; j < N; j++) {
            const on = v[i][j] > 0.5 || v[j][i] > 0.5;
            const missed = bad ? [[i, j], [j, i]].filter(function (e) {
              return isWrong(bad[e[0]][e[1]]);
            }) : [];
            const miss = missed.length > 0;
            if (!on && !miss) continue;
            out.push('<line x1="' + pts[i][0].toFixed(1) + '" y1="' + pts[i][1].toFixed(1) +
              '" x2="' + pts[j][0].toFixed(1) + '" y2="' + pts[j][1].toFixed(1) + '" stroke="' +
              (miss ? WRONG + '" data-wrong="' + missed.map(function (e) {
                return k + "[" + e[0] + "," + e[1] + "]";
              }).join(" ") : MARKED_EDGE) + '" stroke-width="3.5"' +
              (miss ? ' stroke-dasharray="6 3"' : "") + ' data-edge="' + i + "," + j + '"/>');
          }
        }
        legend.push('<span style="color:' + MARKED_EDGE + '">\u2501</span> ' + esc(k));
      } else {
        heatmaps.push(k);
      }
    });

    // node pointers: arrows, one colour per probe (inputs greyed)
    let nextColour = 0;
    Object.keys(probes).forEach(function (k) {
      if (loc(k) !== "node" || POINTERS.indexOf(type(k)) < 0) return;
      const isInput = SPEC[k][0] === "input";
      const colour = isInput ? INPUT_POINTER
        : POINTER_COLOURS[nextColour++ % POINTER_COLOURS.length];
      probes[k].forEach(function (j, i) {
        if (j === null || j === i || j < 0 || j >= N) return;
        const bad = wrongAt(state, k, i);
        out.push(arrow(pts[i], pts[j], r, bad ? WRONG : colour, bad,
          k + ": " + i + " \u2192 " + j + (bad ? "   \u2717 wrong" : "")));
      });
      legend.push('<span style="color:' + colour + '">\u2192</span> ' + esc(k));
    });

    // node colours
    const candidates = colourCandidates(probes);
    const colourBy = colourChoice !== "auto" && candidates.indexOf(colourChoice) >= 0
      ? colourChoice : colourChoice === "auto" ? candidates[0] : null;
    if (colourBy) {
      legend.push('<span class="swatch" style="background:' + MARKED + '"></span>colour: ' +
        esc(colourBy) + (type(colourBy) === "categorical" ? " (class)" : ""));
    }
    for (let i = 0; i < N; i++) {
      const fill = colourBy ? nodeFill(colourBy, probes[colourBy][i]) : NODE;
      const p = pts[i], tip = ' data-node="' + i + '"';
      if (nodeMarks[i].length) {
        out.push('<circle cx="' + p[0].toFixed(1) + '" cy="' + p[1].toFixed(1) + '" r="' +
          (r + 4).toFixed(1) + '" data-wrong="' + esc(nodeMarks[i].join(" ")) +
          '" fill="none" stroke="' + WRONG +
          '" stroke-width="2.5"/>');
      }
      if (LAYOUT === "string") {
        out.push('<rect x="' + (p[0] - r).toFixed(1) + '" y="' + (p[1] - r).toFixed(1) +
          '" width="' + (2 * r).toFixed(1) + '" height="' + (2 * r).toFixed(1) +
          '" rx="3" fill="' + fill + '" stroke="#555"' + tip + "/>");
      } else {
        out.push('<circle cx="' + p[0].toFixed(1) + '" cy="' + p[1].toFixed(1) + '" r="' +
          r.toFixed(1) + '" fill="' + fill + '" stroke="#555"' + tip + "/>");
      }
      const label = BASE.chars ? BASE.chars[i] : N <= 32 ? String(i) : "";
      if (label && r >= 6) {
        out.push('<text x="' + p[0].toFixed(1) + '" y="' + (p[1] + 3.5).toFixed(1) +
          '" text-anchor="middle" font-size="' + (r >= 10 ? 10 : 8) + '">' + esc(label) + "</text>");
      }
    }

    // mask_one probes: their names beside their node
    const labels = new Array(N).fill(null).map(function () { return []; });
    Object.keys(probes).forEach(function (k) {
      if (loc(k) !== "node" || type(k) !== "mask_one") return;
      const v = probes[k];
      if (!v.some(function (x) { return x > 0.5; })) return;
      const i = argmax(v);
      labels[i].push({ name: k, bad: wrongAt(state, k, i) });
    });
    labels.forEach(function (names, i) {
      if (!names.length) return;
      const p = pts[i];
      out.push('<text class="halo" x="' + p[0].toFixed(1) + '" y="' + (p[1] - r - 4).toFixed(1) +
        '" text-anchor="middle" font-size="10">' + names.map(function (n) {
        return '<tspan fill="' + (n.bad ? WRONG : LABEL) + '">' + esc(n.name) + "</tspan>";
      }).join(",") + "</text>");
    });
    if (labels.some(function (l) { return l.length; })) {
      legend.push('<span style="color:' + LABEL + '">' + esc(labels.map(function (l) {
        return l.map(function (x) { return x.name; }).join(",");
      }).filter(Boolean).join(", ")) + "</span>: mask_one, over its node");
    }

    // the first node scalar that is not an input: its values under the nodes
    // (with many nodes only on hover; a wrong one gets a red dot beside its node)
    if (scalar) {
      probes[scalar].forEach(function (v, i) {
        const bad = wrongAt(state, scalar, i);
        const mark = bad ? ' data-wrong="' + esc(scalar + "[" + i + "]") + '"' : "";
        if (!BIG) {
          out.push('<text class="halo" x="' + pts[i][0].toFixed(1) +
            '" y="' + (pts[i][1] + r + 11).toFixed(1) + '" text-anchor="middle" font-size="9"' +
            (bad ? ' font-weight="bold" fill="' + WRONG + '"' + mark : ' fill="#333"') + ">" +
            esc(short(v)) + "</text>");
        } else if (bad) {
          out.push('<circle cx="' + (pts[i][0] + r + 2).toFixed(1) + '" cy="' +
            (pts[i][1] + r + 2).toFixed(1) + '" r="2" fill="' + WRONG + '"' + mark + "/>");
        }
      });
      legend.push(BIG ? esc(scalar) + " on hover" + (state.truth ? " (red dot: wrong)" : "")
        : "under nodes: " + esc(scalar));
    }
    const svg = '<svg class="main" viewBox="0 0 ' + W + " " + H + '" style="max-width:' + W +
      'px" role="img">' +
      out.join("") + "</svg>";
    return { svg: svg, heatmaps: heatmaps };
  }

  function cellColour(name, x) {
    const t = type(name), range = RANGES[name] || [0, 1];
    if (x === null || x === undefined) return "#ffffff";
    if (t === "categorical") {
      return x.every(function (y) { return y === -1; }) ? "#ffffff"
        : CLASS_COLOURS[argmax(x) % CLASS_COLOURS.length];
    }
    if (t === "mask") return x < 0 ? "#ffffff" : x > 0.5 ? MARKED : "#eeeeee";
    if (POINTERS.indexOf(t) >= 0) return viridis(N > 1 ? 0.15 + 0.85 * x / (N - 1) : 0.5);
    return viridis(range[1] > range[0] ? (x - range[0]) / (range[1] - range[0]) : 0.5);
  }
  function cellTip(state, name, i, j) {
    const bad = state.wrong[name] && isWrong(state.wrong[name][i][j]);
    return name + "[" + i + "," + j + "] = " + fmt(name, state.probes[name][i][j]) +
      (bad ? "   \u2717 wrong" + truthNote(state, name, function (u) { return u[i][j]; }) : "");
  }

  // Heatmaps of more than SVG_CELLS nodes are painted on a canvas after the
  // panel is written (thousands of SVG cells redraw too slowly).
  const SVG_CELLS = 16;
  let paints = [];

  function drawHeatmap(state, name) {
    // an edge probe as an N x N grid (row i, column j): classes, masks,
    // pointers (the target's number written in when it fits) or scalars
    const v = state.probes[name], bad = state.wrong[name], t = type(name);
    const ticks = N <= SVG_CELLS ? 12 : 0, S = N <= SVG_CELLS ? 150 : Math.max(150, 3 * N);
    const c = S / N, range = RANGES[name] || [0, 1];
    const pointer = POINTERS.indexOf(t) >= 0;
    const scale = t === "scalar" && RANGES[name] ? short(range[0]) + " \u2026 " + short(range[1])
      : pointer ? "cell: the node it points to" : t === "mask" ? "orange: 1" : "colour: class";
    const caption = '<div class="heatmap"><b>' + esc(name) + "</b> (" + esc(t) + ")";
    const wrongCells = [];
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) {
        if (bad && isWrong(bad[i][j])) wrongCells.push([i, j]);
      }
    }
    if (N > SVG_CELLS) {
      const id = "heatmap-" + paints.length + "-" + Math.random().toString(36).slice(2);
      paints.push(function () {
        const canvas = document.getElementById(id), g = canvas.getContext("2d");
        for (let i = 0; i < N; i++) {
          for (let j = 0; j < N; j++) {
            g.fillStyle = cellColour(name, v[i][j]);
            g.fillRect(j * c, i * c, c, c);
          }
        }
        g.strokeStyle = WRONG; g.lineWidth = 2;
        wrongCells.forEach(function (e) { g.strokeRect(e[1] * c + 1, e[0] * c + 1, c - 2, c - 2); });
      });
      return caption + '<canvas id="' + id + '" width="' + S + '" height="' + S +
        '" data-cells="' + esc(name) + '"' + (wrongCells.length ? ' data-wrong="' +
          esc(wrongCells.map(function (e) { return name + "[" + e[0] + "," + e[1] + "]"; })
            .join(" ")) + '"' : "") + '></canvas><span class="scale">' + esc(scale) +
        "</span></div>";
    }
    const cells = [];
    for (let i = 0; i < N; i++) {
      const at = (ticks + (i + 0.5) * c).toFixed(1);
      cells.push('<text x="' + at + '" y="9" text-anchor="middle" font-size="8" fill="#777">' +
        i + '</text><text x="' + (ticks - 2) + '" y="' + (+at + 3).toFixed(1) +
        '" text-anchor="end" font-size="8" fill="#777">' + i + "</text>");
      for (let j = 0; j < N; j++) {
        const x = v[i][j];
        const wrongHere = bad && isWrong(bad[i][j]);
        const X = ticks + j * c, Y = ticks + i * c;
        cells.push('<rect x="' + X.toFixed(2) + '" y="' + Y.toFixed(2) + '" width="' +
          c.toFixed(2) + '" height="' + c.toFixed(2) + '" fill="' + cellColour(name, x) + '"' +
          (wrongHere ? ' data-wrong="' + esc(name + "[" + i + "," + j + "]") + '" stroke="' +
            WRONG + '" stroke-width="2"' : "") + ' data-cell="' + esc(name) + "," + i + "," + j +
          '"/>');
        if (pointer && N <= 12 && x !== null) {
          cells.push('<text x="' + (X + c / 2).toFixed(1) + '" y="' + (Y + c / 2 + 3).toFixed(1) +
            '" text-anchor="middle" font-size="9" fill="' + (x / Math.max(1, N - 1) > 0.6
              ? "#222" : "#fff") + '">' + x + "</text>");
        }
      }
    }
    return caption + '<svg viewBox="0 0 ' + (S + ticks) + " " + (S + ticks) + '" style="width:' +
      (S + ticks) + "px;height:" + (S + ticks) + 'px">' + cells.join("") +
      '</svg><span class="scale">' + esc(scale) + "</span></div>";
  }

  function drawPanel(element, frame, side) {
    const state = stateOf(frame, side);
    if (side === "prediction") state.truth = stateOf(frame, "truth").probes;
    STATES[side] = state;
    paints = [];
    const legend = [];
    const main = drawMain(state, legend);
    const graphProbes = Object.keys(state.probes).filter(function (k) {
      return loc(k) === "graph";
    }).map(function (k) {
      const bad = state.wrong[k] && isWrong(state.wrong[k]);
      const v = state.probes[k];
      const text = Array.isArray(v) ? String(argmax(v)) : fmt(k, v);
      const tip = k + " = " + fmt(k, v) + (bad ? "   \u2717 wrong" +
        truthNote(state, k, function (u) { return u; }) : "");
      return '<span class="chip' + (bad ? ' wrong" data-wrong="' + esc(k) : "") + '" data-tip="' +
        esc(tip) + '">' +
        esc(k) + " = " + esc(text) + "</span>";
    });
    const wrongCounts = Object.keys(state.wrong).map(function (k) {
      let bad = 0, all = 0;
      (function count(m) {
        if (Array.isArray(m)) m.forEach(count);
        else { all++; if (isWrong(m)) bad++; }
      })(state.wrong[k]);
      return bad ? esc(k) + " " + bad + "/" + all : null;
    }).filter(Boolean);
    // Under the heading, with a prediction, two lines in both panels (empty
    // in the truth's), so that the two drawings line up: what is wrong, and
    // each probe's score.
    let score = "", wrongLine = "", probeScores = "";
    if (side === "prediction" && frame.kind !== "input") {
      const given = frame.kind === "step" && frame.t === 0;
      score = given ? "given to the model, not predicted"
        : state.score === null || state.score === undefined ? "not scored"
          : "score " + state.score.toFixed(3);
      if (!given) {
        wrongLine = wrongCounts.length ? "wrong: " + wrongCounts.join(", ") : "nothing wrong";
      }
      const part = frame.kind === "step" ? DATA.steps[frame.t] : DATA.output;
      probeScores = Object.keys(part.probe_scores || {}).filter(function (k) {
        return part.probe_scores[k] !== null;
      }).map(function (k) {
        return k + " " + part.probe_scores[k].toFixed(3);
      }).join(", ");
      if (probeScores) probeScores = "scores: " + probeScores;
    }
    function line(text, cls) {
      return '<div class="status' + (cls ? " " + cls : "") + '"' +
        (text ? ' data-tip="' + esc(text) + '">' + esc(text) : ">&nbsp;") + "</div>";
    }
    element.innerHTML = "<h2>" + (side === "truth" ? "truth" : "prediction") + " \u00b7 " +
      esc(frame.title) + (score ? '<span class="score">' + esc(score) + "</span>" : "") +
      "</h2>" + (DATA.has_prediction ? line(wrongLine, wrongCounts.length ? "bad" : "") +
        line(probeScores) : "") +
      '<div class="graph-probes">' + graphProbes.join("") + "</div>" +
      '<div class="drawing">' + main.svg + main.heatmaps.map(function (k) {
        return drawHeatmap(state, k);
      }).join("") + "</div>" +
      '<div class="legend">' + legend.map(function (l) { return "<span>" + l + "</span>"; }).join("") +
      (side === "prediction" ? '<span class="wrong-note">wrong: red rings, dashed arrows and ' +
        "edges, outlined cells, red values</span>" : "") +
      "</div>";
    paints.forEach(function (paint) { paint(); });
  }
  const STATES = {}; // panel id ("truth", "prediction") -> the state it shows

  // --------------------------------------------------------------- controls
  const slider = document.getElementById("slider");
  const label = document.getElementById("frame-label");
  const playButton = document.getElementById("play");
  const truthPanel = document.getElementById("truth");
  const predictionPanel = document.getElementById("prediction");
  const colourMenu = document.getElementById("colour-by");
  const scores = document.getElementById("scores");
  let current = 0, timer = null;

  document.getElementById("title").textContent = DATA.title;
  slider.max = String(FRAMES.length - 1);
  predictionPanel.hidden = !DATA.has_prediction;

  const menuNames = [];
  FRAMES.forEach(function (f) {
    colourCandidates(stateOf(f, "truth").probes).forEach(function (k) {
      if (menuNames.indexOf(k) < 0) menuNames.push(k);
    });
  });
  colourMenu.innerHTML = ['<option value="auto">auto</option>'].concat(menuNames.map(function (k) {
    return '<option value="' + esc(k) + '">' + esc(k) + "</option>";
  })).join("");
  colourMenu.addEventListener("change", function () { colourChoice = colourMenu.value; show(current); });

  function scoreColour(s) {
    // red at 0, amber at 0.9, green at 1: most scores worth looking at are high
    if (s === null || s === undefined) return "#dddddd";
    return s < 0.9 ? mix("#e05a4f", "#f2c14e", s / 0.9) : mix("#f2c14e", "#6cbf5c", (s - 0.9) / 0.1);
  }
  if (DATA.has_prediction) {
    scores.innerHTML = '<span class="what">scores per step</span>' + FRAMES.map(function (f, k) {
      if (f.kind === "input") return "";
      const s = (f.kind === "step" ? DATA.steps[f.t] : DATA.output).score;
      return '<span class="cell" data-frame="' + k + '" style="background:' + scoreColour(s) +
        '" data-tip="' + esc(f.title + ": " + (s === null ? "not scored" : s.toFixed(3))) +
        '">' + (s === null ? "\u2013" : s === 1 ? "1"  // (rounded down: only a perfect step reads 1)
          : (Math.floor(s * 100) / 100).toFixed(2).replace(/^0/, "")) +
        "</span>";
    }).join("");
    scores.addEventListener("click", function (e) {
      const cell = e.target.closest("[data-frame]");
      if (cell) show(Number(cell.dataset.frame));
    });
  }

  function show(k) {
    current = Math.max(0, Math.min(FRAMES.length - 1, k));
    slider.value = String(current);
    const frame = FRAMES[current];
    label.textContent = frame.title + (frame.kind === "step" ? " of " + DATA.steps.length : "");
    drawPanel(truthPanel, frame, "truth");
    if (DATA.has_prediction) drawPanel(predictionPanel, frame, "prediction");
    scores.querySelectorAll(".cell").forEach(function (c) {
      c.classList.toggle("now", Number(c.dataset.frame) === current);
    });
  }
  function play(on) {
    if (timer) { clearInterval(timer); timer = null; }
    if (on) {
      if (current === FRAMES.length - 1) show(0);
      timer = setInterval(function () {
        if (current >= FRAMES.length - 1) play(false); else show(current + 1);
      }, 700);
    }
    playButton.innerHTML = timer ? "&#10074;&#10074; pause" : "&#9654; play";
  }
  slider.addEventListener("input", function () { play(false); show(Number(slider.value)); });
  playButton.addEventListener("click", function () { play(!timer); });
  document.addEventListener("keydown", function (e) {
    if (e.target && e.target.tagName === "SELECT") return;
    if (e.key === "ArrowRight") { play(false); show(current + 1); e.preventDefault(); }
    if (e.key === "ArrowLeft") { play(false); show(current - 1); e.preventDefault(); }
    if (e.key === " " && e.target === document.body) { play(!timer); e.preventDefault(); }
  });

  // The tooltip: a drawn element carries its text (data-tip) or says what it
  // is (data-node="i", data-edge="i,j", data-cell="name,i,j", a canvas's
  // data-cells="name"), and the text is made from its panel's state.
  const tooltip = document.getElementById("tooltip");
  const TIPPED = "[data-tip],[data-node],[data-edge],[data-cell],[data-cells]";
  function tipOf(el, e) {
    if (el.hasAttribute("data-tip")) return el.getAttribute("data-tip");
    const panel = el.closest(".panel"), state = panel && STATES[panel.id];
    if (!state) return null;
    const d = el.dataset;
    if (d.node !== undefined) return nodeTip(state, Number(d.node));
    if (d.edge !== undefined) {
      const ij = d.edge.split(",").map(Number);
      return edgeTip(state, ij[0], ij[1]);
    }
    if (d.cell !== undefined) {
      const parts = d.cell.split(",");
      return cellTip(state, parts[0], Number(parts[1]), Number(parts[2]));
    }
    const box = el.getBoundingClientRect();
    const i = Math.floor((e.clientY - box.top) / box.height * N);
    const j = Math.floor((e.clientX - box.left) / box.width * N);
    return i >= 0 && i < N && j >= 0 && j < N ? cellTip(state, d.cells, i, j) : null;
  }
  function hover(e) {
    const el = e.target.closest ? e.target.closest(TIPPED) : null;
    const text = el ? tipOf(el, e) : null;
    if (!text) { tooltip.hidden = true; return; }
    if (tooltip.textContent !== text) tooltip.textContent = text;
    tooltip.hidden = false;
    place(e);
  }
  document.addEventListener("mouseover", hover);
  document.addEventListener("mousemove", hover);
  function place(e) {
    const w = tooltip.offsetWidth, h = tooltip.offsetHeight;
    tooltip.style.left = Math.max(2, Math.min(window.innerWidth - w - 4, e.clientX + 14)) + "px";
    tooltip.style.top = Math.max(2, e.clientY + h + 18 > window.innerHeight
      ? e.clientY - h - 10 : e.clientY + 16) + "px";
  }

  // #frame=K opens at frame K (0 is the input); #autotest moves the slider
  // through every frame and writes what it saw into #autotest-result.
  const options = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (part) {
    const kv = part.split("=");
    if (kv[0]) options[kv[0]] = kv.length > 1 ? decodeURIComponent(kv[1]) : "";
  });
  show(options.frame !== undefined ? Number(options.frame) || 0 : 0);
  if (options.autotest !== undefined) autotest();
  // for a page that holds this one in a frame (the tests check many at once)
  window.openclrsViewer = { show: show, autotest: autotest };

  function hash(text) { // FNV-1a, enough to tell drawings apart
    let h = 0x811c9dc5;
    for (let k = 0; k < text.length; k++) {
      h ^= text.charCodeAt(k);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return ("0000000" + h.toString(16)).slice(-8);
  }
  function autotest() {
    const result = { frames: FRAMES.length, hashes: [], titles: [], wrong_marks: [], tip: null,
      errors: [] };
    for (let k = 0; k < FRAMES.length; k++) {
      slider.value = String(k);
      slider.dispatchEvent(new Event("input", { bubbles: true }));
      let drawn = document.getElementById("panels").innerHTML;
      document.querySelectorAll("#panels canvas").forEach(function (canvas) {
        drawn += canvas.toDataURL();
      });
      result.hashes.push(hash(drawn));
      result.titles.push(label.textContent);
      const marks = [];
      predictionPanel.querySelectorAll("[data-wrong]").forEach(function (el) {
        el.getAttribute("data-wrong").split(" ").forEach(function (m) { marks.push(m); });
      });
      result.wrong_marks.push(marks.sort());
    }
    const node = document.querySelector("#truth svg.main [data-node]"); // (a node or a bar)
    if (node) {
      node.dispatchEvent(new MouseEvent("mouseover", { bubbles: true, clientX: 10, clientY: 10 }));
      result.tip = tooltip.hidden ? null : tooltip.textContent;
    }
    // play from the start, then pause: the button says which it does next
    show(0);
    playButton.click();
    result.play = [playButton.textContent, label.textContent];
    playButton.click();
    result.play.push(playButton.textContent);
    result.prediction_shown = !predictionPanel.hidden;
    result.errors = window.openclrsErrors ? window.openclrsErrors.slice() : [];
    const box = document.getElementById("autotest-result");
    box.textContent = JSON.stringify(result);
    return result;
  }
})();
