'use strict';
// The fivenines web console: reads the agent's REST API with the session cookie, sends every
// change with the session's CSRF token, follows a VM's serial console as Server-Sent Events.
// Everything shown comes from the agent's JSON; nothing is computed here but layout.

let csrfToken = null;
let snapshot = {nodes: [], vms: [], lvs: [], vgs: []};
let consoleStream = null;

const MiB = 1024 * 1024;

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.substring(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function size(bytes) {
  if (bytes === undefined || bytes === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return (unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1).replace(/\.0+$/, '')) + ' ' + units[unit];
}

function stateCell(state) {
  const text = state === undefined || state === null ? '' : String(state).toLowerCase();
  return el('td', {class: 'state-' + text.split(/[ (]/)[0], 'data-state': text}, text);
}

function say(text, ok) {
  const message = document.getElementById('message');
  message.textContent = text;
  message.className = ok ? 'ok' : 'fail';
}

async function api(method, path, body) {
  const headers = {};
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = csrfToken;
    headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(path, {method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body)});
  if (response.status === 401) {
    window.location.assign('/');
    throw new Error('signed out');
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(answer.error || (response.status + ' ' + response.statusText));
  }
  return answer;
}

// ---- the dialog: every action is confirmed there ----

function dialog(title, text, fields, confirmLabel, run) {
  const box = document.getElementById('dialog');
  document.getElementById('dialog-title').textContent = title;
  document.getElementById('dialog-text').textContent = text;
  const form = document.getElementById('dialog-fields');
  form.replaceChildren();
  for (const field of fields) {
    form.append(el('label', {for: 'field-' + field.name}, field.label));
    if (field.options) {
      form.append(el('select', {id: 'field-' + field.name, name: field.name},
        field.options.map(o => el('option', {value: o}, o))));
    } else if (field.type === 'checkbox') {
      const input = el('input', {id: 'field-' + field.name, name: field.name, type: 'checkbox'});
      input.checked = !!field.value;
      form.append(el('span', {}, input));
    } else {
      form.append(el('input', {id: 'field-' + field.name, name: field.name, type: field.type || 'text',
        value: field.value === undefined ? '' : field.value}));
    }
  }
  const error = document.getElementById('dialog-error');
  error.hidden = true;
  const ok = document.getElementById('dialog-ok');
  ok.textContent = confirmLabel;
  ok.disabled = false;
  ok.onclick = async () => {
    const values = {};
    for (const field of fields) {
      const input = document.getElementById('field-' + field.name);
      values[field.name] = field.type === 'checkbox' ? input.checked : input.value;
    }
    ok.disabled = true;
    ok.textContent = 'Working…';
    try {
      const message = await run(values);
      box.close();
      say(message, true);
      refresh();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      ok.disabled = false;
      ok.textContent = confirmLabel;
    }
  };
  document.getElementById('dialog-cancel').onclick = () => box.close();
  box.showModal();
}

// ---- actions ----

const enc = encodeURIComponent;

function vmStart(vm) {
  dialog('Start ' + vm.name, 'Start VM ' + vm.name + '? The cluster chooses its node unless you name one.',
    [{name: 'node', label: 'Node', options: ['(any)', ...snapshot.nodes.filter(n => !n.witness).map(n => n.name)]}], 'Start',
    async (v) => {
      const answer = await api('POST', '/v1/vms/' + enc(vm.name) + '/start', v.node === '(any)' ? {} : {node: v.node});
      return vm.name + ' is ' + answer.state + (answer.node ? ' on ' + answer.node : '');
    });
}

function vmStop(vm) {
  dialog('Stop ' + vm.name, 'Stop VM ' + vm.name + ' (running on ' + vm.node + ')? A forced stop kills QEMU at once.',
    [{name: 'force', label: 'Force', type: 'checkbox'}], 'Stop',
    async (v) => {
      const answer = await api('POST', '/v1/vms/' + enc(vm.name) + '/stop', {force: v.force});
      return vm.name + ' is ' + answer.state;
    });
}

function vmRestart(vm) {
  dialog('Restart ' + vm.name, 'Restart VM ' + vm.name + '? It is stopped (shut down) and started again; the guest reboots.', [],
    'Restart', async () => {
      const answer = await api('POST', '/v1/vms/' + enc(vm.name) + '/restart', {});
      return vm.name + ' is ' + answer.state + (answer.node ? ' on ' + answer.node : '');
    });
}

function vmMigrate(vm) {
  const targets = snapshot.nodes.filter(n => !n.witness && n.name !== vm.node && n.state === 'up').map(n => n.name);
  dialog('Migrate ' + vm.name, 'Move ' + vm.name + ' live from ' + vm.node + ' to another node? The task list shows its progress.',
    [{name: 'node', label: 'To node', options: targets}], 'Migrate',
    async (v) => {
      await api('POST', '/v1/vms/' + enc(vm.name) + '/migrate', {node: v.node, wait: false});
      return 'migration of ' + vm.name + ' to ' + v.node + ' started';
    });
}

function lvCreate() {
  dialog('Create a logical volume', 'A new volume in a volume group.',
    [{name: 'name', label: 'Name'}, {name: 'vg', label: 'Volume group', options: snapshot.vgs.map(g => g.name)},
     {name: 'size', label: 'Size (MiB)', type: 'number', value: 64}, {name: 'thin', label: 'Thin', type: 'checkbox', value: true},
     {name: 'mirrors', label: 'Mirrors (-m)', options: ['0', '1', '2']}], 'Create',
    async (v) => {
      const mib = Number(v.size);
      if (!v.name || !(mib > 0)) throw new Error('give a name and a size in MiB');
      const answer = await api('POST', '/v1/lvs', {vg: v.vg, name: v.name, size: Math.round(mib * MiB), thin: v.thin,
        mirrors: Number(v.mirrors)});
      return answer.path + ' created (' + size(answer.size) + ')';
    });
}

function lvSnapshot(lv) {
  dialog('Snapshot ' + lv.path, 'Take a snapshot of ' + lv.path + ' (constant time; copy on write).',
    [{name: 'name', label: 'Snapshot name', value: lv.name + '-snap'}, {name: 'writable', label: 'Writable', type: 'checkbox', value: true}],
    'Snapshot', async (v) => {
      const answer = await api('POST', '/v1/lvs/' + enc(lv.vg) + '/' + enc(lv.name) + '/snapshot', {name: v.name, writable: v.writable});
      return answer.path + ' created';
    });
}

function lvRemove(lv) {
  dialog('Remove ' + lv.path, 'Remove volume ' + lv.path + ' and everything on it? This cannot be undone.', [], 'Remove',
    async () => {
      await api('DELETE', '/v1/lvs/' + enc(lv.vg) + '/' + enc(lv.name));
      return lv.path + ' removed';
    });
}

function maintenance(node, enable) {
  dialog((enable ? 'Maintenance on ' : 'Maintenance off ') + node.name,
    enable ? 'Put ' + node.name + ' into maintenance? Its VMs leave by live migration and nothing new goes there.'
      : 'Take ' + node.name + ' out of maintenance? The VMs that left come back.', [], enable ? 'Enable' : 'Disable',
    async () => {
      await api('POST', '/v1/nodes/' + enc(node.name) + '/maintenance', {enable});
      return 'maintenance ' + (enable ? 'enabled' : 'disabled') + ' on ' + node.name;
    });
}

// ---- the serial console ----

function openConsole(vm) {
  closeConsole();
  const panel = document.getElementById('console-panel');
  const text = document.getElementById('console-text');
  panel.hidden = false;
  document.getElementById('console-title').textContent = 'Console of ' + vm.name;
  text.textContent = '';
  consoleStream = new EventSource('/v1/vms/' + enc(vm.name) + '/console/stream');
  consoleStream.addEventListener('reset', (event) => {
    const data = JSON.parse(event.data);
    text.textContent = '';
    document.getElementById('console-node').textContent = data.node ? 'on ' + data.node : 'not running';
  });
  consoleStream.addEventListener('output', (event) => {
    const atBottom = text.scrollTop + text.clientHeight >= text.scrollHeight - 4;
    text.append(JSON.parse(event.data).text.replace(/\r/g, ''));
    if (text.textContent.length > 200000) text.textContent = text.textContent.slice(-100000);
    if (atBottom) text.scrollTop = text.scrollHeight;
  });
  consoleStream.addEventListener('problem', (event) => {
    document.getElementById('console-node').textContent = JSON.parse(event.data).message;
  });
}

function closeConsole() {
  if (consoleStream) consoleStream.close();
  consoleStream = null;
  document.getElementById('console-panel').hidden = true;
}

// ---- rendering ----

function renderNodes(nodes, ha, status) {
  const haByNode = Object.fromEntries((ha.nodes || []).map(n => [n.name, n]));
  document.querySelector('#nodes tbody').replaceChildren(...nodes.map(node => {
    const h = haByNode[node.name] || {};
    return el('tr', {'data-node': node.name},
      el('td', {}, node.name, node.name === status.leader ? el('span', {class: 'leader', title: 'Raft leader'}, 'leader') : null,
        node.witness ? el('span', {class: 'muted'}, ' witness') : null),
      stateCell(node.state),
      stateCell(h.lease), el('td', {title: h.fencingDetail || ''}, h.fencing || ''),
      el('td', {}, node.maintenance ? 'on' : '-'),
      el('td', {}, (node.vms || []).join(', ')),
      el('td', {}, node.freeMemoryMib === undefined ? '' : node.freeMemoryMib + ' / ' + node.memoryMib + ' MiB'),
      el('td', {class: 'actions'}, node.witness ? null : node.maintenance
        ? el('button', {type: 'button', class: 'maintenance-off', onclick: () => maintenance(node, false)}, 'Maintenance off')
        : el('button', {type: 'button', class: 'maintenance-on', onclick: () => maintenance(node, true)}, 'Maintenance on')));
  }));
}

function renderVms(vms, ha) {
  const haByVm = Object.fromEntries((ha.vms || []).map(v => [v.name, v]));
  document.querySelector('#vms tbody').replaceChildren(...vms.map(vm => {
    const h = haByVm[vm.name] || {};
    const running = vm.desired !== 'STOPPED' && vm.desired !== 'stopped';
    return el('tr', {'data-vm': vm.name},
      el('td', {}, vm.name),
      stateCell(vm.migratingTo ? 'migrating' : vm.phase),
      el('td', {class: 'vm-node'}, vm.node || '', vm.migratingTo ? ' → ' + vm.migratingTo : ''),
      el('td', {}, vm.memoryMib + ' MiB'),
      el('td', {}, ((vm.definition && vm.definition.disks) || []).map(d => d.volume).join(', ')),
      el('td', {title: h.why || ''}, h.ha === 'on' ? (h.haState || 'on') : 'off'),
      el('td', {class: 'actions'},
        running ? null : el('button', {type: 'button', class: 'vm-start', onclick: () => vmStart(vm)}, 'Start'),
        running ? el('button', {type: 'button', class: 'vm-stop', onclick: () => vmStop(vm)}, 'Stop') : null,
        running ? el('button', {type: 'button', class: 'vm-restart', onclick: () => vmRestart(vm)}, 'Restart') : null,
        running && vm.node ? el('button', {type: 'button', class: 'vm-migrate', onclick: () => vmMigrate(vm)}, 'Migrate') : null,
        vm.node ? el('button', {type: 'button', class: 'vm-console', onclick: () => openConsole(vm)}, 'Console') : null));
  }));
}

function renderStorage(pvs, vgs, lvs) {
  document.querySelector('#vgs tbody').replaceChildren(...vgs.map(g => el('tr', {'data-vg': g.name},
    el('td', {}, g.name), el('td', {}, size(g.size)), el('td', {class: 'vg-free'}, size(g.free)),
    el('td', {}, (g.physicalVolumes || []).join(', ')), el('td', {}, g.logicalVolumes))));
  document.querySelector('#pvs tbody').replaceChildren(...pvs.map(p => el('tr', {'data-pv': p.name},
    el('td', {}, p.name), el('td', {}, p.node), el('td', {class: 'mono'}, p.path), el('td', {}, size(p.size)),
    el('td', {}, p.extents ? Math.round(100 * p.usedExtents / p.extents) + '%' : ''), el('td', {}, p.volumeGroup || ''))));
  document.querySelector('#lvs tbody').replaceChildren(...lvs.map(lv => el('tr', {'data-lv': lv.path},
    el('td', {}, lv.path, lv.origin ? el('span', {class: 'muted'}, ' ← ' + lv.origin) : null),
    el('td', {}, size(lv.size)), el('td', {class: 'mono'}, lv.attributes),
    el('td', {class: 'lv-data'}, lv.dataPercent.toFixed(2)),
    el('td', {class: 'lv-copy'}, lv.mirrors > 0 ? lv.copyPercent.toFixed(2) : ''),
    el('td', {class: 'legs'}, (lv.legs || []).map(l => el('span', {class: 'state-' + l.state, title: l.reason || ''},
      l.index + ': ' + (l.node || '') + ' ' + l.state))),
    el('td', {}, (lv.attachments || []).map(a => a.node + (a.shared ? ' (shared)' : '')).join(', ')),
    el('td', {}, lv.health),
    el('td', {class: 'actions'},
      el('button', {type: 'button', class: 'lv-snapshot', onclick: () => lvSnapshot(lv)}, 'Snapshot'),
      el('button', {type: 'button', class: 'lv-remove danger', onclick: () => lvRemove(lv)}, 'Remove')))));
}

// set through the CSSOM: the page's Content-Security-Policy refuses style attributes
function bar(percent) {
  const fill = el('i');
  fill.style.width = Math.max(0, Math.min(100, Number(percent) || 0)) + '%';
  return el('span', {class: 'bar'}, fill);
}

function renderTasks(answer) {
  const tasks = answer.tasks || [];
  document.getElementById('tasks-note').textContent = (answer.unreachable || []).length
    ? 'not heard from: ' + answer.unreachable.map(u => u.node).join(', ') : '';
  document.querySelector('#tasks tbody').replaceChildren(...tasks.map(t => el('tr', {'data-task': t.kind + ':' + t.subject},
    el('td', {}, t.startedAt ? new Date(t.startedAt).toLocaleTimeString() : ''),
    el('td', {}, t.node), el('td', {}, t.title), el('td', {}, t.subject), stateCell(t.state),
    el('td', {class: 'task-progress'}, t.percent === undefined || t.percent === null ? '' : [bar(t.percent),
      ' ' + Number(t.percent).toFixed(1) + '%']),
    el('td', {class: 'task-detail'}, t.detail || ''))));
}

let refreshing = false;

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const [status, nodes, ha, vms, pvs, vgs, lvs, tasks] = await Promise.all([
      api('GET', '/v1/cluster/status'), api('GET', '/v1/nodes'), api('GET', '/v1/ha/status'), api('GET', '/v1/vms'),
      api('GET', '/v1/pvs'), api('GET', '/v1/vgs'), api('GET', '/v1/lvs'), api('GET', '/v1/tasks')]);
    snapshot = {nodes: nodes.nodes, vms, lvs, vgs};
    document.getElementById('cluster-name').textContent = 'cluster ' + (status.cluster || '?');
    document.getElementById('agent-node').textContent = 'via ' + status.node;
    const quorum = status.quorum || {};
    document.getElementById('quorum').textContent = quorum.ok ? 'quorum ok' : 'NO QUORUM' + (quorum.reason ? ': ' + quorum.reason : '');
    renderNodes(nodes.nodes, ha, status);
    renderVms(vms, ha);
    renderStorage(pvs, vgs, lvs);
    renderTasks(tasks);
  } catch (e) {
    if (e.message !== 'signed out') say('Could not read the cluster: ' + e.message, false);
  } finally {
    refreshing = false;
  }
}

async function start() {
  const session = await api('GET', '/console/session');
  csrfToken = session.csrfToken;
  document.getElementById('lv-create').addEventListener('click', lvCreate);
  document.getElementById('console-close').addEventListener('click', closeConsole);
  document.getElementById('signout').addEventListener('click', async () => {
    await api('POST', '/console/signout', {}).catch(() => null);
    window.location.assign('/');
  });
  await refresh();
  setInterval(refresh, 2000);
}

start();
