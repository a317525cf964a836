// nerfedit web viewer: orbit a trained scene rendered by the server (POST /api/render), no build step, no CDN.
// Scenes are Z-up; poses are world_from_cam with OpenGL camera axes (+x right, +y up, looking down -z).
'use strict';

(() => {
  const PREVIEW_DIVISOR = 4;  // resolution divisor while the view moves
  const SETTLE_MS = 200;      // still this long -> full resolution
  const MAX_IN_FLIGHT = 3;    // the server supersedes our queued requests, so a few in flight cost nothing
  const UP = [0, 0, 1];

  const $ = (id) => document.getElementById(id);
  const canvas = $('view');
  const context = canvas.getContext('2d');
  const statusLine = $('status');

  const state = {
    info: null,
    cameras: [],
    clientId: 'tab-' + Math.random().toString(36).slice(2, 10) + Date.now().toString(36),
    // Orbit camera: eye = target + radius * (cos el cos az, cos el sin az, sin el).
    target: [0, 0, 0], azimuth: 0.6, elevation: 0.5, radius: 4, fovX: 50,
    snappedCamera: -1,  // index of the training camera shown exactly (with its roll) until the user moves
    mode: 'rgb',
    sequence: 0,        // of the last render request sent
    selectSequence: 0,  // of the last selection request sent
    shownSequence: -1,  // of the picture on the canvas; older responses are dropped
    inFlight: 0,
    dirty: false,       // the view changed since the last request
    wantFull: false,    // next request at full resolution
    settleTimer: null,
    lastShown: null,    // {sequence, width, height, full, renderMs, roundTripMs, depthNear, depthFar}
    selection: null,    // {label, coverage} of the server's current selection (feature-field runs)
    styleName: '',      // the style shown (stylize runs)
    category: null,     // {instances, instance, stacked}: what the server shows (category runs)
    panelBusy: 0,       // select / edit requests in flight
    lastError: '',
    shownCount: { preview: 0, full: 0 },  // pictures drawn, by kind (progressive refinement is observable)
  };

  // ---- small vector maths ----
  const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
  const scale = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
  const norm = (a) => Math.sqrt(dot(a, a));
  const normalize = (a) => scale(a, 1 / (norm(a) || 1));
  const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));

  function eyePosition() {
    const ce = Math.cos(state.elevation);
    return add(state.target, scale([ce * Math.cos(state.azimuth), ce * Math.sin(state.azimuth), Math.sin(state.elevation)],
                                   state.radius));
  }

  // world_from_cam of the orbit camera: columns right, up, backward (-forward), eye.
  function orbitBasis() {
    const eye = eyePosition();
    const forward = normalize(sub(state.target, eye));
    const right = normalize(cross(forward, UP));
    const up = cross(right, forward);
    return { eye, forward, right, up };
  }

  function currentPose() {
    if (state.snappedCamera >= 0) return state.cameras[state.snappedCamera].transform_matrix;
    const { eye, forward, right, up } = orbitBasis();
    return [
      [right[0], up[0], -forward[0], eye[0]],
      [right[1], up[1], -forward[1], eye[1]],
      [right[2], up[2], -forward[2], eye[2]],
      [0, 0, 0, 1],
    ];
  }

  function aabbCentreAndSize() {
    const [lo, hi] = state.info ? state.info.aabb : [[-1, -1, -1], [1, 1, 1]];
    return { centre: scale(add(lo, hi), 0.5), size: norm(sub(hi, lo)) };
  }

  function resetView() {
    const { centre, size } = aabbCentreAndSize();
    state.target = centre;
    state.azimuth = 0.6;
    state.elevation = 0.45;
    state.radius = 1.1 * size;
    state.fovX = 50;
    unsnap();
    viewChanged(false);
  }

  // Shows training camera `index` exactly, and sets the orbit so the next drag starts from this view.
  function snapToCamera(index) {
    const camera = state.cameras[index];
    const m = camera.transform_matrix;
    const eye = [m[0][3], m[1][3], m[2][3]];
    const forward = normalize([-m[0][2], -m[1][2], -m[2][2]]);
    const { centre, size } = aabbCentreAndSize();
    let distance = dot(sub(centre, eye), forward);  // orbit around the point of the view ray nearest the scene centre
    if (!(distance > 0.05 * size)) distance = norm(sub(centre, eye)) || size;
    state.target = add(eye, scale(forward, distance));
    state.radius = distance;
    const back = scale(forward, -1);
    state.elevation = Math.asin(clamp(back[2], -1, 1));
    state.azimuth = Math.atan2(back[1], back[0]);
    state.fovX = 2 * Math.atan(camera.w / (2 * camera.fl_x)) * 180 / Math.PI;
    state.snappedCamera = index;
    $('camera-select').value = String(index);
    viewChanged(false);
  }

  function unsnap() {
    if (state.snappedCamera < 0) return;
    state.snappedCamera = -1;
    $('camera-select').value = '-1';
  }

  // ---- render scheduling: low resolution while moving, full resolution once still ----
  function viewChanged(moving) {
    state.dirty = true;
    state.wantFull = !moving;
    clearTimeout(state.settleTimer);
    state.settleTimer = null;
    if (moving) {
      state.settleTimer = setTimeout(() => {
        state.settleTimer = null;
        state.dirty = true;
        state.wantFull = true;
        schedule();
      }, SETTLE_MS);
    }
    schedule();
  }

  let frameRequested = false;
  function schedule() {
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(() => {
      frameRequested = false;
      if (state.dirty && state.info && state.inFlight < MAX_IN_FLIGHT) sendRender();
    });
  }

  function targetResolution(full) {
    const rect = canvas.getBoundingClientRect();
    let w = Math.max(1, Math.round(rect.width));
    let h = Math.max(1, Math.round(rect.height));
    const limit = state.info ? state.info.max_pixels : 1 << 20;
    if (w * h > limit) {
      const s = Math.sqrt(limit / (w * h));
      w = Math.max(1, Math.floor(w * s));
      h = Math.max(1, Math.floor(h * s));
    }
    if (!full) {
      w = Math.max(1, Math.round(w / PREVIEW_DIVISOR));
      h = Math.max(1, Math.round(h / PREVIEW_DIVISOR));
    }
    return [w, h];
  }

  function viewRequest(width, height) {
    return { pose: currentPose(), width, height, fov_x_degrees: state.fovX };
  }

  // The selection is drawn by the server into the same render (/api/select_render), so an overlay costs no extra view.
  function overlayWanted() {
    return !!state.selection && $('show-mask').checked && state.mode === 'rgb' && hasEndpoint('/api/select_render');
  }

  async function sendRender() {
    const full = state.wantFull;
    state.dirty = false;
    const [width, height] = targetResolution(full);
    const sequence = ++state.sequence;
    const body = Object.assign(viewRequest(width, height), {
      format: 'jpeg', quality: full ? 90 : 75, client: state.clientId, request: sequence,
    });
    if (state.mode !== 'rgb') body.mode = state.mode;
    const path = overlayWanted() ? 'api/select_render' : 'api/render';
    state.inFlight++;
    const started = performance.now();
    try {
      const response = await fetch(path, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      if (response.status === 409) {
        const message = await errorText(response);
        if (message.endsWith('superseded')) return;  // by our own newer request
        if (path === 'api/select_render') {  // the server has no selection (restarted?): draw without one
          state.selection = null;
          state.dirty = true;
          return;
        }
        throw new Error(message);
      }
      if (!response.ok) throw new Error(await errorText(response));
      const blob = await response.blob();
      if (sequence < state.shownSequence) return;  // a newer picture is already shown
      const bitmap = await createImageBitmap(blob);
      if (sequence < state.shownSequence) return;
      canvas.width = width;
      canvas.height = height;
      context.imageSmoothingEnabled = true;
      context.drawImage(bitmap, 0, 0, width, height);
      state.shownSequence = sequence;
      state.shownCount[full ? 'full' : 'preview']++;
      state.lastShown = {
        sequence, width, height, full,
        renderMs: parseFloat(response.headers.get('X-Render-Ms')),
        roundTripMs: performance.now() - started,
        depthNear: response.headers.get('X-Depth-Near'),
        depthFar: response.headers.get('X-Depth-Far'),
      };
      state.lastError = '';
      updateStatus();
    } catch (error) {
      state.lastError = String(error.message || error);
      updateStatus();
    } finally {
      state.inFlight--;
      if (state.dirty) schedule();
    }
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      return `${response.status}: ${body.error}`;
    } catch (_) {
      return `HTTP ${response.status}`;
    }
  }

  function updateStatus() {
    const s = state.lastShown;
    const parts = [state.info ? state.info.run : 'nerfedit'];
    if (s) {
      parts.push(state.mode);
      parts.push(`${s.width}\u00d7${s.height}${s.full ? '' : ' preview'}`);
      parts.push(`render ${s.renderMs.toFixed(1)} ms`);
      parts.push(`round trip ${s.roundTripMs.toFixed(0)} ms`);
      if (state.mode === 'depth' && s.depthNear !== null) parts.push(`depth ${s.depthNear} (red) \u2192 ${s.depthFar} (blue)`);
    }
    if (state.styleName) parts.push(`style "${state.styleName}"`);
    if (state.category) {
      const c = state.category;
      parts.push((c.instance < 0 ? 'mean instance' : `instance ${c.instance}`) + (c.stacked ? ` +${c.stacked} edits` : ''));
    }
    if (state.selection) parts.push(`selected "${state.selection.label}"`);
    if (state.snappedCamera >= 0) parts.push(`camera ${state.snappedCamera}`);
    if (state.lastError) parts.push('error ' + state.lastError);
    statusLine.textContent = parts.join(' \u00b7 ');
    statusLine.classList.toggle('error', !!state.lastError);
  }

  // ---- mouse: left drag orbits, right or shift drag pans, wheel zooms ----
  let drag = null;
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    drag = { x: e.clientX, y: e.clientY, pan: e.button === 2 || e.shiftKey, moved: false };
    canvas.classList.add('dragging');
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (dx === 0 && dy === 0) return;
    drag.x = e.clientX;
    drag.y = e.clientY;
    drag.moved = true;
    unsnap();
    if (drag.pan) {
      const { right, up } = orbitBasis();
      const rect = canvas.getBoundingClientRect();
      const unitsPerPixel = 2 * state.radius * Math.tan(state.fovX * Math.PI / 360) / Math.max(1, rect.width);
      state.target = add(state.target, add(scale(right, -dx * unitsPerPixel), scale(up, dy * unitsPerPixel)));
    } else {
      state.azimuth -= dx * 0.008;
      state.elevation = clamp(state.elevation + dy * 0.008, -1.55, 1.55);  // stay off the poles: up is +z
    }
    viewChanged(true);
  });
  const endDrag = (e) => {
    if (!drag) return;
    const wasClick = !drag.moved;
    drag = null;
    canvas.classList.remove('dragging');
    const picking = $('click-select').checked || e.shiftKey;
    if (wasClick && picking && !$('edit-panel').hidden && hasEndpoint('/api/select')) selectAtPixel(e);
  };
  canvas.addEventListener('pointerup', endDrag);
  canvas.addEventListener('pointercancel', endDrag);
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    unsnap();
    const { size } = aabbCentreAndSize();
    state.radius = clamp(state.radius * Math.exp(e.deltaY * 0.0015), 0.02 * size, 20 * size);
    viewChanged(true);
  }, { passive: false });
  window.addEventListener('resize', () => viewChanged(true));

  $('camera-select').addEventListener('change', (e) => {
    const index = parseInt(e.target.value, 10);
    if (index >= 0) snapToCamera(index); else { unsnap(); viewChanged(false); }
  });
  for (const radio of document.querySelectorAll('input[name=mode]')) {
    radio.addEventListener('change', (e) => { state.mode = e.target.value; viewChanged(false); });
  }
  $('reset-view').addEventListener('click', resetView);

  // ---- selection and edits (feature-field runs: /api/select, /api/edit, /api/undo, /api/save) ----
  function hasEndpoint(path) {
    return !!state.info && (state.info.endpoints || []).includes('POST ' + path);
  }

  function setEditStatus(text, isError) {
    const line = $('edit-status');
    line.textContent = text;
    line.classList.toggle('error', !!isError);
  }

  async function postJson(path, body) {
    const response = await fetch(path.slice(1), {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(await errorText(response));
    return response.json();
  }

  // Runs one panel request; its reply's message (or `done`) goes to the panel's status line, errors too.
  async function panelRequest(path, body, done) {
    state.panelBusy++;
    setEditStatus('working\u2026');
    try {
      const reply = await postJson(path, body);
      setEditStatus(done ? done(reply) : (reply.message || `${path.replace('/api/', '')} done`));
      return reply;
    } catch (error) {
      setEditStatus(String(error.message || error), true);
      return null;
    } finally {
      state.panelBusy--;
    }
  }

  // POST /api/select with the current full-resolution view plus {text} or {click: {x, y}}; the overlay then comes
  // with every render.
  async function requestSelection(extra) {
    const [width, height] = targetResolution(true);
    // Its own client id: a selection must not supersede (or be superseded by) a queued render.
    const body = Object.assign(viewRequest(width, height),
                               { client: state.clientId + '-select', request: ++state.selectSequence }, extra);
    const reply = await panelRequest('/api/select', body,
                                     (r) => `selected "${r.label}": ${(100 * r.coverage).toFixed(1)}% of the view`);
    if (reply) {
      state.selection = { label: reply.label, coverage: reply.coverage };
      viewChanged(false);
    }
  }

  function selectAtPixel(e) {
    const rect = canvas.getBoundingClientRect();
    const [width, height] = targetResolution(true);
    const x = clamp((e.clientX - rect.left) / rect.width * width, 0, width - 0.01);
    const y = clamp((e.clientY - rect.top) / rect.height * height, 0, height - 0.01);
    requestSelection({ click: { x, y } });
  }

  async function applyEdit(path, body) {
    const reply = await panelRequest(path, body);
    if (reply) viewChanged(false);
  }

  $('query-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('query').value.trim();
    // Naming the scene's other things is the surest selection; empty: the server's canonical negatives.
    const negatives = $('negatives').value.split(',').map((n) => n.trim()).filter((n) => n);
    if (text) requestSelection(negatives.length ? { text, negatives } : { text });
  });
  $('show-mask').addEventListener('change', () => viewChanged(false));
  $('click-select').addEventListener('change', (e) => canvas.classList.toggle('picking', e.target.checked));
  $('edit-delete').addEventListener('click', () => applyEdit('/api/edit', { op: 'delete' }));
  $('edit-extract').addEventListener('click', () => applyEdit('/api/edit', { op: 'extract' }));
  $('edit-recolor').addEventListener('click', () => applyEdit('/api/edit', { op: 'recolor', color: $('recolor-color').value }));
  $('text-edit-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const prompt = $('text-edit-prompt').value.trim();
    if (!prompt) { setEditStatus('text: describe the new look, e.g. "blue sphere"', true); return; }
    setEditStatus(`fitting "${prompt}"\u2026`, false);
    applyEdit('/api/edit', { op: 'text', prompt });
  });
  $('edit-move').addEventListener('click', () => {
    const offset = ['move-x', 'move-y', 'move-z'].map((id) => parseFloat($(id).value || '0'));
    if (offset.some((v) => !Number.isFinite(v))) { setEditStatus('move: the offsets must be numbers', true); return; }
    applyEdit('/api/edit', { op: 'translate', offset });
  });
  $('edit-undo').addEventListener('click', () => applyEdit('/api/undo', {}));
  $('save-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const out = $('save-out').value.trim();
    if (!out) { setEditStatus('save: give a folder name (created beside the run)', true); return; }
    panelRequest('/api/save', { out }, (r) => `saved ${r.saved} (${r.edits} edits)`);
  });

  function setUpEditPanel(info) {
    const panel = $('edit-panel');
    panel.hidden = !info.has_features;
    if (panel.hidden) return;
    const available = new Set(info.endpoints || []);
    for (const control of panel.querySelectorAll('[data-endpoint]')) {
      const ok = available.has('POST ' + control.dataset.endpoint);
      control.disabled = !ok;
      if (!ok) control.title = `this server has no ${control.dataset.endpoint}`;
    }
    $('save-out').disabled = !available.has('POST /api/save');
    $('save-out').value = `${info.run}-edited`;
  }

  // ---- styles (stylize runs: /api/style) ----
  function setUpStyles(info) {
    const styles = info.styles || [];
    $('style-label').hidden = styles.length === 0;
    const select = $('style-select');
    select.textContent = '';
    styles.forEach((name, index) => {
      const option = document.createElement('option');
      option.value = String(index);
      option.textContent = name;
      select.appendChild(option);
    });
    if (styles.length) {
      const index = Number.isInteger(info.style) ? info.style : 0;
      select.value = String(index);
      state.styleName = styles[index] || '';
    }
  }

  $('style-select').addEventListener('change', async (e) => {
    state.panelBusy++;
    try {
      const reply = await postJson('/api/style', { style: parseInt(e.target.value, 10) });
      state.styleName = reply.name;
      state.lastError = '';
      viewChanged(false);
    } catch (error) {
      state.lastError = String(error.message || error);
      updateStatus();
    } finally {
      state.panelBusy--;
    }
  });

  // ---- category runs (clipnerf: /api/category*): show an instance, edit it by a text prompt ----
  function setCategoryStatus(text, isError) {
    const line = $('category-status');
    line.textContent = text;
    line.classList.toggle('error', !!isError);
  }

  // Records which instance the server shows (-1: the mean code) and with how many edits.
  function showCategory(instance, stacked) {
    state.category.instance = instance;
    state.category.stacked = stacked;
    $('instance-count').textContent = `of 0\u2013${state.category.instances - 1}` +
                                      (instance < 0 ? ' (showing the mean code)' : '');
  }

  // One category request; the reply updates what the server shows, and the view is rendered again.
  async function categoryRequest(path, body, done) {
    state.panelBusy++;
    setCategoryStatus('working\u2026');
    try {
      const reply = await postJson(path, body);
      showCategory(reply.instance, reply.stacked);
      setCategoryStatus(done(reply));
      viewChanged(false);
      return reply;
    } catch (error) {
      setCategoryStatus(String(error.message || error), true);
      return null;
    } finally {
      state.panelBusy--;
    }
  }

  function showInstance() {
    const instance = Number($('instance-number').value);
    if (!Number.isInteger(instance)) { setCategoryStatus('instance: give a whole number', true); return; }
    // Enter in the field fires both change and submit: the second would only repeat the first.
    if (state.category && state.category.instance === instance && state.category.stacked === 0) return;
    categoryRequest('/api/category/instance', { instance }, (r) => `instance ${r.instance}`);
  }

  $('instance-form').addEventListener('submit', (e) => { e.preventDefault(); showInstance(); });
  $('instance-number').addEventListener('change', showInstance);
  $('prompt-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const prompt = $('category-prompt').value.trim();
    if (!prompt) { setCategoryStatus('prompt: describe the edit, e.g. "a red chair"', true); return; }
    categoryRequest('/api/category/edit', { prompt },
                    (r) => `${r.edits} edit "${r.prompt}" in ${r.edit_ms.toFixed(1)} ms (${r.stacked} stacked)`);
  });
  $('prompt-reset').addEventListener('click', () => {
    categoryRequest('/api/category/edit', { reset: true }, (r) => `instance ${r.instance < 0 ? '(mean)' : r.instance}: edits reset`);
  });

  // The panel appears when POST /api/category answers; runs of other methods answer 404 and keep it hidden.
  async function setUpCategoryPanel() {
    if (!hasEndpoint('/api/category')) return;
    state.panelBusy++;
    try {
      let category;
      try {
        category = await postJson('/api/category', {});
      } catch (_) {
        return;
      }
      state.category = { instances: category.instances };
      showCategory(category.instance, category.stacked);
      $('category-panel').hidden = false;
      const input = $('instance-number');
      input.max = String(category.instances - 1);
      input.value = String(Math.max(0, category.instance));
      const library = $('prompt-library');
      library.textContent = '';
      for (const prompt of category.prompts || []) {
        const option = document.createElement('option');
        option.value = prompt;
        library.appendChild(option);
      }
      for (const id of ['category-prompt', 'prompt-apply', 'prompt-reset']) $(id).disabled = !category.has_mappers;
      if (category.has_mappers) {
        setCategoryStatus(`${category.prompts.length} library prompts; any colour or shape phrase of the chair vocabulary works`);
      } else {
        setCategoryStatus(category.mappers_error || 'this run has no mappers', true);
      }
      updateStatus();
    } finally {
      state.panelBusy--;
    }
  }

  // ---- start-up ----
  async function start() {
    try {
      const [info, cameras] = await Promise.all([
        fetch('api/info').then((r) => (r.ok ? r.json() : Promise.reject(new Error('api/info: HTTP ' + r.status)))),
        fetch('api/cameras').then((r) => (r.ok ? r.json() : Promise.reject(new Error('api/cameras: HTTP ' + r.status)))),
      ]);
      state.info = info;
      state.cameras = cameras;
      document.title = `${info.run} \u2014 nerfedit viewer`;
      $('run-name').textContent = `nerfedit \u00b7 ${info.run}`;
      const select = $('camera-select');
      for (const camera of cameras) {
        const option = document.createElement('option');
        option.value = String(camera.index);
        option.textContent = `camera ${camera.index} (${camera.w}\u00d7${camera.h})`;
        select.appendChild(option);
      }
      setUpEditPanel(info);
      setUpStyles(info);
      setUpCategoryPanel();
      resetView();
    } catch (error) {
      state.lastError = String(error.message || error);
      updateStatus();
    }
  }

  // Hooks for tests and the console: idle() is true once the full-resolution picture of the current view is shown.
  window.nerfeditViewer = {
    state,
    idle: () => !!state.info && !state.dirty && state.inFlight === 0 && state.settleTimer === null && state.panelBusy === 0 &&
                !!state.lastShown && state.lastShown.full && state.shownSequence === state.sequence,
  };

  start();
})();
