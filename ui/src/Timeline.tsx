// The total over time (the render answer's timeline) as bars; dragging selects a range.
import { useRef, useState } from 'react';
import type { Render } from './api';

interface Props {
  timeline: NonNullable<Render['timeline']>;
  /** Called with the selected range in Unix seconds. */
  onSelect: (from: number, until: number) => void;
}

const HEIGHT = 80;

export function Timeline({ timeline, onSelect }: Props) {
  const svg = useRef<SVGSVGElement>(null);
  const [drag, setDrag] = useState<{ start: number; end: number } | null>(null);
  const { samples, startTime, durationDelta } = timeline;
  const max = Math.max(1, ...samples);
  const n = Math.max(1, samples.length);
  // The fraction of the width under the pointer.
  const at = (clientX: number) => {
    const box = svg.current?.getBoundingClientRect();
    if (!box || box.width === 0) return 0;
    return Math.min(1, Math.max(0, (clientX - box.left) / box.width));
  };
  const finish = () => {
    if (drag && Math.abs(drag.end - drag.start) > 0.002) {
      const [a, b] = [Math.min(drag.start, drag.end), Math.max(drag.start, drag.end)];
      const span = n * durationDelta;
      onSelect(Math.floor(startTime + a * span), Math.ceil(startTime + b * span));
    }
    setDrag(null);
  };
  return (
    <svg
      ref={svg}
      className="timeline"
      data-testid="timeline"
      viewBox={`0 0 ${n} ${HEIGHT}`}
      preserveAspectRatio="none"
      onMouseDown={(e) => setDrag({ start: at(e.clientX), end: at(e.clientX) })}
      onMouseMove={(e) => drag && setDrag({ ...drag, end: at(e.clientX) })}
      onMouseUp={finish}
      onMouseLeave={finish}
    >
      <title>Drag to zoom into a range</title>
      {samples.map((v, i) =>
        v > 0 ? (
          <rect key={i} x={i} width={1} y={HEIGHT - (v / max) * HEIGHT} height={(v / max) * HEIGHT} className="bar" />
        ) : null,
      )}
      {drag ? (
        <rect
          x={Math.min(drag.start, drag.end) * n}
          width={Math.abs(drag.end - drag.start) * n}
          y={0}
          height={HEIGHT}
          className="selection"
        />
      ) : null}
    </svg>
  );
}
