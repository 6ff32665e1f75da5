// Waits until Unleash answers an authenticated admin request, or the deadline passes.
// Usage: node wait.js URL DEADLINE_SECONDS PID (token in RW_UNLEASH_TOKEN). Exit 0 when up.
'use strict';

const [url, deadlineSecs, pid] = process.argv.slice(2);
const token = process.env.RW_UNLEASH_TOKEN || '';
const deadline = Date.now() + Number(deadlineSecs) * 1000;

function alive() {
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (_) {
    return false;
  }
}

async function once() {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), 2000);
  try {
    const r = await fetch(`${url}/api/admin/projects`, {
      headers: { Authorization: token },
      signal: ctl.signal,
    });
    return r.status === 200;
  } catch (_) {
    return false;
  } finally {
    clearTimeout(t);
  }
}

(async () => {
  for (;;) {
    if (await once()) process.exit(0);
    if (!alive()) {
      console.error('wait.js: the Unleash process exited');
      process.exit(1);
    }
    if (Date.now() > deadline) {
      console.error(`wait.js: Unleash did not answer within ${deadlineSecs} s`);
      process.exit(1);
    }
    // Poll again shortly: this is waiting on a condition with a deadline.
    await new Promise((res) => setTimeout(res, 250));
  }
})();
