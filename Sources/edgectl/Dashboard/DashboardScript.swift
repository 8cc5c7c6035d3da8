/// The dashboard's script: follows `/events` (a snapshot, then updates) and draws the fleet.
/// Everything shown comes from devices, so text goes in with textContent and elements are made
/// with createElement: never innerHTML.
enum DashboardScript {
    static let source = #"""
        'use strict';
        (function () {
          const RESULTS_KEPT = 20, EVENTS_KEPT = 200, SVG = 'http://www.w3.org/2000/svg';
          const FINAL = ['SUCCEEDED', 'FAILED', 'ROLLED_BACK', 'REJECTED', 'SUPERSEDED'];
          const STATES = ['SUCCEEDED', 'IN_PROGRESS', 'FAILED', 'ROLLED_BACK', 'REJECTED', 'SUPERSEDED', 'PENDING'];
          const fleet = { things: {}, groups: {}, events: [], results: {} };
          const token = new URLSearchParams(location.search).get('token');
          // The server set a cookie with it: keep it out of the address bar and the history.
          if (token) history.replaceState(null, '', location.pathname);

          function el(tag, className, text) {
            const node = document.createElement(tag);
            if (className) node.className = className;
            if (text !== undefined && text !== null) node.textContent = String(text);
            return node;
          }
          function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
          function time(ms) { return typeof ms === 'number' ? new Date(ms).toLocaleTimeString() : ''; }
          function num(value, digits) { return typeof value === 'number' ? value.toFixed(digits) : '-'; }
          function mb(bytes) { return (bytes / 1048576).toFixed(1); }
          function stateClass(state) {
            if (['RUNNING', 'IDLE', 'SUCCEEDED', 'online'].includes(state)) return 'good';
            if (['BROKEN', 'FAILED', 'ROLLED_BACK', 'REJECTED', 'offline'].includes(state)) return 'bad';
            if (['RESTARTING', 'STARTING', 'STOPPING', 'IN_PROGRESS'].includes(state)) return 'busy';
            return 'stale';
          }
          function badge(text, state) { return el('span', 'badge ' + stateClass(state || text), text); }

          function bar(value, limit, label) {
            const outer = el('div', 'bar');
            const fill = el('div', 'fill');
            const share = limit > 0 && typeof value === 'number' ? Math.min(1, value / limit) : 0;
            fill.style.width = (share * 100).toFixed(1) + '%';
            if (share >= 0.95) outer.classList.add('full'); else if (share >= 0.75) outer.classList.add('high');
            outer.append(fill, el('span', 'label', label));
            return outer;
          }

          function sparkline(series, columns) {
            const svg = document.createElementNS(SVG, 'svg');
            svg.setAttribute('viewBox', '0 0 110 26');
            svg.setAttribute('preserveAspectRatio', 'none');
            if (series.length < 2) return svg;
            const t0 = series[0][0], t1 = series[series.length - 1][0];
            let top = 0;
            for (const point of series) for (const [column] of columns) if (typeof point[column] === 'number') top = Math.max(top, point[column]);
            if (top <= 0) top = 1;
            for (const [column, className] of columns) {
              const line = document.createElementNS(SVG, 'polyline');
              const points = series.filter(p => typeof p[column] === 'number').map(p =>
                ((p[0] - t0) / Math.max(1, t1 - t0) * 108 + 1).toFixed(1) + ',' + (24 - p[column] / top * 22).toFixed(1));
              line.setAttribute('points', points.join(' '));
              line.setAttribute('class', className);
              svg.appendChild(line);
            }
            return svg;
          }

          function functionRows(fn) {
            const row = el('tr');
            row.dataset.function = fn.name;
            row.dataset.state = fn.state || '';
            const name = el('td');
            name.append(el('b', null, fn.name), document.createTextNode(' ' + (fn.version || '')));
            const state = el('td');
            state.appendChild(badge(fn.state || '?'));
            const restarts = el('td', 'num restarts', fn.restarts);
            const memoryLabel = typeof fn.memoryBytes === 'number'
              ? mb(fn.memoryBytes) + (fn.memoryLimitBytes ? ' / ' + mb(fn.memoryLimitBytes) + ' MB' : ' MB (no cap)') : '-';
            const memory = el('td');
            memory.appendChild(bar(fn.memoryBytes, fn.memoryLimitBytes, memoryLabel));
            const cap = typeof fn.cpus === 'number' ? fn.cpus * 100 : 100;
            const cpuLabel = typeof fn.cpuPercent === 'number'
              ? fn.cpuPercent.toFixed(1) + '% / ' + (typeof fn.cpus === 'number' ? cap.toFixed(0) + '%' : 'no cap') : '-';
            const cpu = el('td');
            cpu.appendChild(bar(fn.cpuPercent, cap, cpuLabel));
            const rate = el('td');
            const rateChart = el('div', 'spark');
            rateChart.append(sparkline(fn.series, [[1, 'rate']]), el('span', 'rate-value', num(fn.invocationsPerSecond, 1) + '/s'));
            rate.appendChild(rateChart);
            const latency = el('td');
            const latencyChart = el('div', 'spark');
            const lat = fn.latencyMs || {};
            latencyChart.append(sparkline(fn.series, [[3, 'p50'], [4, 'p99']]),
              el('span', null, 'p50 ' + num(lat.p50, 2) + ' · p99 ' + num(lat.p99, 2) + ' ms'));
            latency.appendChild(latencyChart);
            row.append(name, state, restarts, memory, cpu, rate, latency);
            const rows = [row];
            if (fn.lastError) {
              const line = el('tr', 'error-line');
              const cell = el('td', null, 'last error: ' + fn.lastError);
              cell.colSpan = 7;
              line.appendChild(cell);
              rows.push(line);
            }
            return rows;
          }

          function deviceCard(thing) {
            const card = el('div', 'device ' + (thing.status === 'online' ? 'online' : 'offline'));
            card.dataset.thing = thing.thing;
            card.dataset.status = thing.status;
            const head = el('div', 'device-head');
            head.appendChild(el('h3', null, thing.thing));
            const status = badge(thing.status + (thing.reason ? ' (' + thing.reason + ')' : ''), thing.status);
            status.classList.add('device-status');
            head.appendChild(status);
            const meta = [];
            if (thing.agentVersion) meta.push('agent ' + thing.agentVersion);
            if (typeof thing.uptimeSeconds === 'number' && thing.status === 'online') meta.push('up ' + Math.round(thing.uptimeSeconds) + ' s');
            if (thing.timestamp) meta.push('reported ' + time(thing.timestamp));
            head.appendChild(el('span', 'meta', meta.join(' · ')));
            for (const group of thing.groups || []) head.appendChild(el('span', 'chip', group));
            card.appendChild(head);
            const deployment = el('div', 'deployment');
            const status2 = thing.deploymentStatus || thing.deployment;
            if (status2 && status2.deploymentId) {
              deployment.append(document.createTextNode('deployment ' + status2.deploymentId + ' r' + status2.revision + ' '),
                badge(status2.status || '?'));
              if (status2.reason && status2.status !== 'SUCCEEDED') deployment.appendChild(el('div', 'meta', status2.reason));
            } else {
              deployment.appendChild(el('span', 'meta', 'no deployment'));
            }
            card.appendChild(deployment);
            if ((thing.functions || []).length) {
              const table = el('table', 'functions');
              const head2 = el('tr');
              for (const title of ['function', 'state', 'restarts', 'memory', 'cpu', 'invocations', 'latency']) head2.appendChild(el('th', null, title));
              table.appendChild(head2);
              for (const fn of thing.functions) for (const row of functionRows(fn)) table.appendChild(row);
              card.appendChild(table);
            }
            return card;
          }

          function drawDevices() {
            const box = document.getElementById('devices');
            clear(box);
            const names = Object.keys(fleet.things).sort();
            if (!names.length) box.appendChild(el('p', 'empty', 'No device has reported to this broker yet.'));
            for (const name of names) box.appendChild(deviceCard(fleet.things[name]));
            const online = names.filter(n => fleet.things[n].status === 'online').length;
            document.getElementById('summary').textContent =
              names.length + ' device' + (names.length === 1 ? '' : 's') + ' · ' + online + ' online · ' + (names.length - online) + ' offline';
          }

          function drawGroups() {
            const box = document.getElementById('groups');
            clear(box);
            const names = Object.keys(fleet.groups).sort();
            if (!names.length) box.appendChild(el('p', 'empty', 'No group deployment is retained on this broker.'));
            for (const name of names) {
              const group = fleet.groups[name];
              const card = el('div', 'group');
              card.dataset.group = name;
              card.dataset.done = group.done;
              card.dataset.total = group.total;
              const head = el('div', 'device-head');
              head.append(el('h3', null, name), el('span', 'meta', (group.deploymentId || '?') + ' r' + group.revision),
                el('span', 'meta', group.done + ' / ' + group.total + ' done'));
              card.appendChild(head);
              const progress = el('div', 'progress');
              for (const state of FINAL.concat(['IN_PROGRESS'])) {
                const count = group.counts[state] || 0;
                if (!count || !group.total) continue;
                const part = el('div', state);
                part.style.width = (count / group.total * 100).toFixed(1) + '%';
                progress.appendChild(part);
              }
              card.appendChild(progress);
              const counts = el('div');
              for (const state of STATES) {
                const count = group.counts[state] || 0;
                const item = el('span', 'count' + (count ? '' : ' zero'));
                item.dataset.state = state;
                item.append(el('b', null, count), document.createTextNode(' ' + state));
                counts.appendChild(item);
              }
              card.appendChild(counts);
              const members = el('div', 'meta');
              for (const member of group.members) {
                const chip = el('span', 'chip', member.thing + ': ' + member.state + (member.online ? '' : ' (offline)'));
                members.appendChild(chip);
              }
              card.appendChild(members);
              box.appendChild(card);
            }
          }

          function drawEvents() {
            const body = document.querySelector('#events tbody');
            clear(body);
            for (const event of fleet.events.slice().reverse()) {
              const row = el('tr');
              row.dataset.type = event.type || '';
              row.append(el('td', null, time(event.timestamp)), el('td', null, event.thing), el('td', null, event.type),
                el('td', null, event.function || ''), el('td', 'text', event.detail));
              body.appendChild(row);
            }
          }

          function drawResults() {
            const select = document.getElementById('result-function');
            const keys = Object.keys(fleet.results).sort();
            const chosen = select.value || keys[0] || '';
            if (select.options.length !== keys.length || keys.some((key, i) => select.options[i].value !== key)) {
              clear(select);
              for (const key of keys) {
                const option = el('option', null, key.replace('/', ' / '));
                option.value = key;
                select.appendChild(option);
              }
            }
            select.value = chosen;
            const body = document.querySelector('#results tbody');
            clear(body);
            for (const result of (fleet.results[chosen] || []).slice().reverse()) {
              const row = el('tr');
              const status = el('td');
              status.appendChild(badge(result.status || '?', result.status === 'ok' ? 'RUNNING' : 'FAILED'));
              row.append(el('td', null, time(result.timestamp)), status, el('td', null, result.invocationId || ''),
                el('td', 'num', num(result.durationMs, 2)), el('td', 'text', result.text));
              body.appendChild(row);
            }
          }

          function addResults(results) {
            for (const result of results) {
              const key = result.thing + '/' + result.function;
              const list = fleet.results[key] || (fleet.results[key] = []);
              list.push(result);
              if (list.length > RESULTS_KEPT) list.splice(0, list.length - RESULTS_KEPT);
            }
          }

          function addEvents(events) {
            fleet.events = fleet.events.concat(events);
            if (fleet.events.length > EVENTS_KEPT) fleet.events = fleet.events.slice(-EVENTS_KEPT);
          }

          function connected(yes) {
            const badgeNode = document.getElementById('connection');
            badgeNode.textContent = yes ? 'live' : 'reconnecting…';
            badgeNode.className = 'badge ' + (yes ? 'good' : 'bad');
          }

          document.getElementById('result-function').addEventListener('change', drawResults);

          const source = new EventSource(token ? '/events?token=' + encodeURIComponent(token) : '/events');
          source.addEventListener('open', () => connected(true));
          source.addEventListener('error', () => connected(false));
          source.addEventListener('snapshot', message => {
            const snapshot = JSON.parse(message.data);
            fleet.things = snapshot.things;
            fleet.groups = snapshot.groups;
            fleet.events = [];
            fleet.results = {};
            addEvents(snapshot.events);
            addResults(snapshot.results.sort((a, b) => a.timestamp - b.timestamp));
            connected(true);
            drawDevices(); drawGroups(); drawEvents(); drawResults();
          });
          source.addEventListener('update', message => {
            const update = JSON.parse(message.data);
            for (const name of update.removed) delete fleet.things[name];
            Object.assign(fleet.things, update.things);
            if (update.groups) fleet.groups = update.groups;
            addEvents(update.events);
            addResults(update.results);
            if (update.removed.length || Object.keys(update.things).length) drawDevices();
            if (update.groups) drawGroups();
            if (update.events.length) drawEvents();
            if (update.results.length) drawResults();
          });
        })();

        """#
}
