// Loaded with `node --import` into a measured process: writes its peak resident set size (the
// whole process, worker threads included) to $HEADBENCH_RSS_FILE as it exits.
import fs from 'node:fs';

process.on('exit', () => {
  const file = process.env.HEADBENCH_RSS_FILE;
  if (!file) return;
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const hwm = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  fs.writeFileSync(file, JSON.stringify({ maxRssKB: process.resourceUsage().maxRSS, vmHwmKB: hwm ? Number(hwm) : null }));
});
