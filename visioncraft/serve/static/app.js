// The web page of `visioncraft serve`: pick a model, send an image (file, drop, paste or webcam frame) to
// POST /v1/models/{name}/predict, draw the answer on a canvas and list it in a table. No libraries, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { models: [], model: null, image: null, doc: null, busy: false, stream: null };

// -- colours ----------------------------------------------------------------------------------------------------
function colour(i, alpha = 1) {
  const hue = (i * 137.508) % 360;  // golden angle: neighbouring labels get distant hues
  return `hsla(${hue.toFixed(1)}, 85%, 45%, ${alpha})`;
}
function colourRgb(i) {
  // the same hue as colour(i), as 0-255 RGB for mask pixels
  const h = ((i * 137.508) % 360) / 360, s = 0.85, l = 0.45;
  const q = l < 0.5 ? l * (1 + s) : l + s - l * s, p = 2 * l - q;
  const f = (t) => {
    t = (t + 1) % 1;
    if (t < 1 / 6) return p + (q - p) * 6 * t;
    if (t < 1 / 2) return q;
    if (t < 2 / 3) return p + (q - p) * (2 / 3 - t) * 6;
    return p;
  };
  return [f(h + 1 / 3), f(h), f(h - 1 / 3)].map((v) => Math.round(v * 255));
}

// -- status line ------------------------------------------------------------------------------------------------
function setStatus(text, kind) {
  const el = $('status');
  el.textContent = text;
  el.dataset.state = kind;
}

// -- models -----------------------------------------------------------------------------------------------------
async function loadModels() {
  try {
    const res = await fetch('/v1/models');
    const body = await res.json();
    state.models = body.models || [];
    const select = $('model');
    select.innerHTML = '';
    for (const m of state.models) {
      const opt = document.createElement('option');
      opt.value = m.name;
      opt.textContent = `${m.name} (${m.task})`;
      select.appendChild(opt);
    }
    select.disabled = state.models.length === 0;
    $('health').textContent = `${state.models.length} model${state.models.length === 1 ? '' : 's'} served`;
    const wanted = new URLSearchParams(location.search).get('model');
    if (wanted && state.models.some((m) => m.name === wanted)) select.value = wanted;
    selectModel();
  } catch (err) {
    $('health').textContent = 'the server does not answer';
    setStatus(`Could not list the models: ${err}`, 'error');
  }
}

function selectModel() {
  state.model = state.models.find((m) => m.name === $('model').value) || null;
  const m = state.model;
  let info = '';
  if (m) {
    if (m.classes && m.classes.length) info = `Classes: ${m.classes.join(', ')}`;
    else if (m.keypoints && m.keypoints.length) info = `${m.keypoints.length} keypoints`;
    else info = { ocr: 'text detection + recognition', textdet: 'text regions', textrecog: 'reads the image as one word' }[m.task] || '';
  }
  $('model-info').textContent = info;
  if (state.image && state.doc) render();
}

// -- sending an image -------------------------------------------------------------------------------------------
function serverTiming(header) {
  const out = {};
  for (const part of (header || '').split(',')) {
    const m = part.trim().match(/^([\w-]+);dur=([\d.]+)/);
    if (m) out[m[1]] = parseFloat(m[2]);
  }
  return out;
}

async function predict(blob, name) {
  if (!state.model) { setStatus('No model to send the image to.', 'error'); return; }
  if (state.busy) return;
  state.busy = true;
  setStatus(`Sending ${name || 'the image'} to ${state.model.name}…`, 'busy');
  const form = new FormData();
  form.append('file', blob, name || 'image.jpg');
  const t0 = performance.now();
  try {
    const [res, image] = await Promise.all([
      fetch(`/v1/models/${encodeURIComponent(state.model.name)}/predict`, { method: 'POST', body: form }),
      decodeForCanvas(blob),
    ]);
    const body = await res.json();
    const ms = performance.now() - t0;
    if (!res.ok) {
      setStatus(`${res.status}: ${body.error || res.statusText}`, 'error');
      return;
    }
    state.image = image;
    state.doc = body;
    state.task = res.headers.get('X-Task') || state.model.task;
    const t = serverTiming(res.headers.get('Server-Timing'));
    const batch = res.headers.get('X-Batch-Size');
    $('timing').textContent = `${ms.toFixed(0)} ms round trip` +
      (t.total !== undefined ? ` · server ${t.total.toFixed(1)} ms (decode ${t.decode.toFixed(1)}, queue ` +
        `${t.queue.toFixed(1)}, model ${t.model.toFixed(1)}; batch of ${batch})` : '');
    render();
    setStatus(`${state.model.name}: ${summary(state.task, body)}`, 'done');
  } catch (err) {
    setStatus(`Failed: ${err}`, 'error');
  } finally {
    state.busy = false;
  }
}

async function decodeForCanvas(blob) {
  // the browser's own decoding of the image, to draw on; null when it cannot decode it (the server may)
  try {
    return await createImageBitmap(blob);
  } catch (err) {
    return null;
  }
}

// -- what a document holds --------------------------------------------------------------------------------------
function threshold() { return parseFloat($('threshold').value); }

function instances(task, doc) {
  // one row per drawn thing: {score, draw(ctx, scale), cells: [...]}
  const out = [];
  if (task === 'detection') {
    const classes = (state.model && state.model.classes) || [];
    (doc.labels || []).forEach((label, i) => {
      out.push({ kind: 'box', label, name: classes[label] !== undefined ? classes[label] : `class ${label}`,
                 score: doc.scores[i], box: doc.bboxes ? doc.bboxes[i] : null, mask: doc.masks ? doc.masks[i] : null });
    });
  } else if (task === 'pose') {
    (Array.isArray(doc) ? doc : []).forEach((p, i) => {
      const ks = p.keypoint_scores || [];
      const mean = ks.length ? ks.reduce((a, b) => a + b, 0) / ks.length : 0;
      out.push({ kind: 'person', label: i, score: p.bbox_score !== undefined ? p.bbox_score : mean, mean,
                 box: p.bbox ? p.bbox[0] : null, keypoints: p.keypoints || [], keypointScores: ks });
    });
  } else if (task === 'ocr' || task === 'textdet') {
    (doc.results || []).forEach((r, i) => {
      out.push({ kind: 'text', label: i, score: r.det_score, polygon: r.polygon, text: r.text, recScore: r.rec_score });
    });
  } else if (task === 'textrecog') {
    out.push({ kind: 'word', label: 0, score: doc.rec_score, text: doc.text });
  }
  return out;
}

function summary(task, doc) {
  const items = instances(task, doc);
  const shown = items.filter((it) => it.score >= threshold()).length;
  if (task === 'textrecog') return `read "${doc.text}" (score ${Number(doc.rec_score).toFixed(3)})`;
  const noun = { detection: 'object', pose: 'person', ocr: 'text region', textdet: 'text region' }[task] || 'item';
  return `${items.length} ${noun}${items.length === 1 ? '' : 's'}, ${shown} scoring ≥ ${threshold().toFixed(2)}`;
}

// -- COCO RLE masks -----------------------------------------------------------------------------------------------
function rleCounts(counts) {
  if (Array.isArray(counts)) return counts;
  // compressed form: 5-bit groups as characters from '0', 0x20 = more groups follow, 0x10 in the last = negative;
  // from the third count on, each is stored as the difference to the count two places back
  const out = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0, k = 0, more = true;
    while (more) {
      const c = counts.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p += 1;
      k += 1;
      if (!more && (c & 0x10)) x |= -1 << (5 * k);
    }
    if (out.length > 2) x += out[out.length - 2];
    out.push(x);
  }
  return out;
}

function maskLayer(rle, rgb) {
  // an ImageBitmap-able canvas of the mask: runs of 0s and 1s over the pixels in column-major order
  const [h, w] = rle.size;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(w, h);
  const counts = rleCounts(rle.counts);
  let idx = 0, on = false;
  for (const n of counts) {
    if (on) {
      for (let j = idx; j < idx + n && j < w * h; j++) {
        const y = j % h, x = Math.floor(j / h), o = (y * w + x) * 4;
        img.data[o] = rgb[0]; img.data[o + 1] = rgb[1]; img.data[o + 2] = rgb[2]; img.data[o + 3] = 110;
      }
    }
    idx += n;
    on = !on;
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

// -- drawing -----------------------------------------------------------------------------------------------------
function drawLabel(ctx, text, x, y, fill, size) {
  ctx.font = `${size}px system-ui, sans-serif`;
  const w = ctx.measureText(text).width + size * 0.5, h = size * 1.3;
  const top = y - h < 0 ? y : y - h;
  ctx.fillStyle = fill;
  ctx.fillRect(x, top, w, h);
  ctx.fillStyle = '#fff';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, x + size * 0.25, top + h / 2);
}

function render() {
  const canvas = $('result');
  const ctx = canvas.getContext('2d');
  const img = state.image;
  const doc = state.doc;
  const task = state.task;
  let w = 640, h = 360;
  if (img) { w = img.width; h = img.height; }
  else if (doc && doc.width && doc.height) { w = doc.width; h = doc.height; }
  const banner = task === 'textrecog' ? Math.max(28, Math.round(h * 0.35)) : 0;
  canvas.width = w;
  canvas.height = h + banner;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (img) ctx.drawImage(img, 0, 0);
  else { ctx.fillStyle = '#ddd'; ctx.fillRect(0, 0, w, h); }
  const lw = Math.max(1, Math.round(Math.max(w, h) / 300));
  const fontSize = Math.max(10, Math.round(Math.max(w, h) / 40));
  const thr = threshold();
  const items = instances(task, doc);
  let drawn = 0;
  for (const it of items) {
    if (it.score < thr) continue;
    drawn += 1;
    if (it.kind === 'box') {
      if (it.mask) ctx.drawImage(maskLayer(it.mask, colourRgb(it.label)), 0, 0);
      if (it.box) {
        const [x1, y1, x2, y2] = it.box;
        ctx.lineWidth = lw;
        ctx.strokeStyle = colour(it.label);
        ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
        drawLabel(ctx, `${it.name} ${it.score.toFixed(2)}`, x1, y1, colour(it.label, 0.85), fontSize);
      }
    } else if (it.kind === 'person') {
      drawPerson(ctx, it, thr, lw);
    } else if (it.kind === 'text') {
      const pts = it.polygon;
      ctx.beginPath();
      for (let k = 0; k + 1 < pts.length; k += 2) (k ? ctx.lineTo : ctx.moveTo).call(ctx, pts[k], pts[k + 1]);
      ctx.closePath();
      ctx.lineWidth = lw;
      ctx.strokeStyle = colour(3);
      ctx.fillStyle = colour(3, 0.15);
      ctx.fill();
      ctx.stroke();
      const xs = pts.filter((_, k) => k % 2 === 0), ys = pts.filter((_, k) => k % 2 === 1);
      const label = it.text !== undefined ? it.text || '∅' : it.score.toFixed(2);
      drawLabel(ctx, label, Math.min(...xs), Math.min(...ys), colour(3, 0.85), fontSize);
    } else if (it.kind === 'word') {
      ctx.fillStyle = '#111';
      ctx.fillRect(0, h, w, banner);
      ctx.fillStyle = '#fff';
      ctx.textBaseline = 'middle';
      ctx.font = `${Math.round(banner * 0.6)}px system-ui, sans-serif`;
      ctx.fillText(`${it.text || '∅'}  (${it.score.toFixed(2)})`, 8, h + banner / 2, w - 16);
    }
  }
  canvas.dataset.drawn = String(drawn);
  canvas.dataset.task = task;
  renderTable(task, items, thr);
  $('json').textContent = JSON.stringify(doc, null, 2);
  $('json-box').hidden = false;
}

function drawPerson(ctx, it, thr, lw) {
  const kpts = it.keypoints, ks = it.keypointScores;
  const skeleton = (state.model && state.model.skeleton) || [];
  const ok = (k) => kpts[k] && (ks[k] === undefined || ks[k] >= thr);
  ctx.lineWidth = lw * 2;
  skeleton.forEach(([a, b], i) => {
    if (!ok(a) || !ok(b)) return;
    ctx.strokeStyle = colour(i + 1, 0.9);
    ctx.beginPath();
    ctx.moveTo(kpts[a][0], kpts[a][1]);
    ctx.lineTo(kpts[b][0], kpts[b][1]);
    ctx.stroke();
  });
  kpts.forEach((p, k) => {
    if (!ok(k)) return;
    ctx.fillStyle = colour(0);
    ctx.beginPath();
    ctx.arc(p[0], p[1], lw * 2.5, 0, 2 * Math.PI);
    ctx.fill();
  });
  if (it.box) {
    const [x1, y1, x2, y2] = it.box;
    ctx.lineWidth = lw;
    ctx.strokeStyle = colour(5, 0.7);
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  }
}

function cell(row, value, swatch) {
  const td = document.createElement('td');
  if (swatch !== undefined) {
    const s = document.createElement('span');
    s.className = 'swatch';
    s.style.background = colour(swatch);
    td.appendChild(s);
  }
  td.appendChild(document.createTextNode(value));
  row.appendChild(td);
}

const fmt = (v, d = 1) => (typeof v === 'number' ? v.toFixed(d) : String(v));

function renderTable(task, items, thr) {
  const table = $('table');
  const head = table.tHead, body = table.tBodies[0];
  head.innerHTML = '';
  body.innerHTML = '';
  const columns = {
    detection: ['#', 'class', 'score', 'x1', 'y1', 'x2', 'y2'].concat(items.some((it) => it.mask) ? ['mask px'] : []),
    pose: ['#', 'box score', 'mean keypoint score', 'keypoints ≥ thr', 'box'],
    ocr: ['#', 'text', 'rec score', 'det score', 'polygon'],
    textdet: ['#', 'det score', 'polygon'],
    textrecog: ['text', 'rec score'],
  }[task] || [];
  const hr = document.createElement('tr');
  for (const c of columns) { const th = document.createElement('th'); th.textContent = c; hr.appendChild(th); }
  head.appendChild(hr);
  items.forEach((it, i) => {
    const tr = document.createElement('tr');
    if (it.score < thr) tr.className = 'below';
    if (task === 'detection') {
      cell(tr, String(i));
      cell(tr, it.name, it.label);
      cell(tr, fmt(it.score, 3));
      for (const v of it.box || ['', '', '', '']) cell(tr, fmt(v));
      if (columns.length > 7) cell(tr, it.mask ? String(maskArea(it.mask)) : '');
    } else if (task === 'pose') {
      cell(tr, String(i));
      cell(tr, fmt(it.score, 3));
      cell(tr, fmt(it.mean, 3));
      cell(tr, `${it.keypointScores.filter((s) => s >= thr).length} / ${it.keypoints.length}`);
      cell(tr, it.box ? it.box.map((v) => fmt(v)).join(', ') : '');
    } else if (task === 'ocr') {
      cell(tr, String(i));
      cell(tr, it.text);
      cell(tr, fmt(it.recScore, 3));
      cell(tr, fmt(it.score, 3));
      cell(tr, it.polygon.map((v) => fmt(v)).join(', '));
    } else if (task === 'textdet') {
      cell(tr, String(i));
      cell(tr, fmt(it.score, 3));
      cell(tr, it.polygon.map((v) => fmt(v)).join(', '));
    } else if (task === 'textrecog') {
      cell(tr, it.text);
      cell(tr, fmt(it.score, 3));
    }
    body.appendChild(tr);
  });
  table.dataset.rows = String(items.length);
  table.hidden = false;
}

function maskArea(rle) {
  return rleCounts(rle.counts).reduce((a, n, i) => (i % 2 ? a + n : a), 0);
}

// -- inputs: file, drop, paste, webcam ---------------------------------------------------------------------------
function takeFiles(files) {
  const f = files && files[0];
  if (f) predict(f, f.name);
}

function setupInputs() {
  const drop = $('drop');
  $('file').addEventListener('change', (e) => {
    takeFiles(e.target.files);
    e.target.value = '';  // choosing the same file again (for another model) sends it again
  });
  drop.addEventListener('click', (e) => { if (e.target !== $('file')) $('file').click(); });
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') $('file').click(); });
  for (const ev of ['dragenter', 'dragover']) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
  }
  for (const ev of ['dragleave', 'drop']) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove('over'); });
  }
  drop.addEventListener('drop', (e) => takeFiles(e.dataTransfer && e.dataTransfer.files));
  document.addEventListener('paste', (e) => {
    const item = [...(e.clipboardData ? e.clipboardData.items : [])].find((i) => i.type.startsWith('image/'));
    if (item) predict(item.getAsFile(), 'pasted image');
  });
  $('model').addEventListener('change', selectModel);
  $('threshold').addEventListener('input', () => {
    $('threshold-value').textContent = threshold().toFixed(2);
    if (state.doc) {
      render();
      setStatus(`${state.model ? state.model.name : ''}: ${summary(state.task, state.doc)}`, 'done');
    }
  });
  setupCamera();
}

function setupCamera() {
  const start = $('camera-start'), capture = $('camera-capture'), live = $('camera-live'), video = $('camera');
  if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)) {
    start.disabled = true;
    $('camera-note').textContent = 'This browser offers no camera here (it needs https or localhost).';
    return;
  }
  start.addEventListener('click', async () => {
    if (state.stream) {
      state.stream.getTracks().forEach((t) => t.stop());
      state.stream = null;
      video.hidden = true;
      capture.disabled = live.disabled = true;
      live.checked = false;
      start.textContent = 'Use the webcam';
      return;
    }
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      video.srcObject = state.stream;
      video.hidden = false;
      await video.play();
      capture.disabled = live.disabled = false;
      start.textContent = 'Stop the webcam';
      $('camera-note').textContent = '';
    } catch (err) {
      $('camera-note').textContent = `No camera: ${err.message || err}`;
    }
  });
  const grab = () => new Promise((resolve) => {
    const c = document.createElement('canvas');
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    c.getContext('2d').drawImage(video, 0, 0);
    c.toBlob(resolve, 'image/jpeg', 0.9);
  });
  const once = async () => {
    if (!state.stream || !video.videoWidth) return;
    const blob = await grab();
    if (blob) await predict(blob, 'webcam.jpg');
  };
  capture.addEventListener('click', once);
  live.addEventListener('change', async () => {
    while (live.checked && state.stream) {
      await once();
      await new Promise((r) => setTimeout(r, 30));
    }
  });
}

window.addEventListener('DOMContentLoaded', () => {
  setupInputs();
  loadModels();
});
