// The quick-start demo: baton-sim plays Marathon with a few example apps, and this prints what to try.
// Stops cleanly on Ctrl-C.
import { readFileSync } from 'node:fs';
import { MarathonSimulator } from '@baton/marathon-sim';
import { createLogger } from '@baton/marathon';

const port = Number(process.env.PORT ?? 8080);
const { apps } = JSON.parse(readFileSync(new URL('./demo-apps.json', import.meta.url), 'utf8'));
const sim = new MarathonSimulator({ host: '127.0.0.1', port, logger: createLogger('demo', process.env.BATON_LOG_LEVEL ?? 'warn') });
await sim.start();
for (const app of apps) await sim.createApp(app);
await Promise.all(apps.map((app) => sim.waitForRunning(app.id, app.instances)));

const url = sim.url;
console.log(`baton-sim (a Marathon) is serving ${apps.length} apps on ${url}
Try, in another terminal:
  curl -s ${url}/v2/apps | head -c 600; echo                        # the apps, as Marathon serves them
  curl -sN -H 'Accept: text/event-stream' ${url}/v2/events           # the event stream (keep it open)
  curl -s -X PUT -H 'Content-Type: application/json' -d '{"instances":5}' ${url}/v2/apps/meter   # scale meter: watch the stream
  curl -s ${url}/master/state | head -c 600; echo                   # the same cluster as a Mesos master
Press Ctrl-C to stop.`);

const stop = async () => {
  await sim.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
