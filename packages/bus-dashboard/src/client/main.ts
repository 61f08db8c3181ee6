// The dashboard's browser script: the page works without it (plain forms and links); it adds
// confirmation of bulk actions and the throughput chart.
import uPlot from 'uplot';

interface QueueSample {
  queue: string;
  available: number;
  running: number;
  archivedCompleted: number;
  archivedFailed: number;
  archivedCancelled: number;
}

document.addEventListener('submit', (event) => {
  const form = event.target as HTMLFormElement | null;
  const question = form?.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

function startChart(element: HTMLElement): void {
  const source = element.dataset.src;
  if (!source) return;
  const points: [number[], number[], number[], number[]] = [[], [], [], []];
  let previous: { at: number; completed: number; failed: number } | undefined;
  const width = () => Math.max(280, element.clientWidth);
  const chart = new uPlot(
    {
      width: width(),
      height: 220,
      series: [
        {},
        { label: 'completed/s', stroke: '#2a7d2a', width: 2 },
        { label: 'failed/s', stroke: '#c0392b', width: 2 },
        { label: 'available', stroke: '#2f5fa8', width: 1, scale: 'depth' },
      ],
      axes: [{}, { label: 'rows/s' }, { side: 1, scale: 'depth', label: 'available', grid: { show: false } }],
      scales: { x: { time: true } },
    },
    points,
    element,
  );
  window.addEventListener('resize', () => chart.setSize({ width: width(), height: 220 }));
  const sample = async () => {
    try {
      const response = await fetch(source, {
        headers: { accept: 'application/json' },
        credentials: 'same-origin',
      });
      if (!response.ok) return;
      const body = (await response.json()) as { queues: QueueSample[]; countedAt: string | null };
      // The server counts in the background: a sample is a count, placed at the database time it
      // was taken, and a count already plotted is not plotted again.
      if (body.countedAt === null) return;
      const at = Date.parse(body.countedAt) / 1000;
      if (previous !== undefined && at <= previous.at) return;
      const queues = body.queues;
      const completed = queues.reduce((n, q) => n + q.archivedCompleted, 0);
      const failed = queues.reduce((n, q) => n + q.archivedFailed + q.archivedCancelled, 0);
      const available = queues.reduce((n, q) => n + q.available, 0);
      // The first sample has no rate yet (0), but shows the depth at once.
      const seconds = previous ? Math.max(0.001, at - previous.at) : 1;
      points[0].push(at);
      points[1].push(previous ? Math.max(0, (completed - previous.completed) / seconds) : 0);
      points[2].push(previous ? Math.max(0, (failed - previous.failed) / seconds) : 0);
      points[3].push(available);
      if (points[0].length > 360) for (const series of points) series.shift();
      chart.setData(points);
      previous = { at, completed, failed };
    } catch {
      // A missed sample leaves a gap; the next one resumes the chart.
    }
  };
  // The next sample waits for the previous answer: a slow count never piles up requests.
  const interval = Number(element.dataset.interval ?? 5000);
  const loop = async () => {
    await sample();
    setTimeout(loop, interval);
  };
  void loop();
}

for (const element of document.querySelectorAll<HTMLElement>('[data-chart]')) startChart(element);
