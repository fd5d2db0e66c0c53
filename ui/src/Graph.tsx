// @grafana/flamegraph's widget, rendered again only when its data, theme or header change:
// each render of it rebuilds its levels and collapsed chains (whenever `getTheme` is a new
// function) and lays out its top table again.
import { memo, useCallback, type ReactNode } from 'react';
import type { DataFrame, GrafanaTheme2 } from '@grafana/data';
import { FlameGraph } from '@grafana/flamegraph';

/** Extra entries of the widget's context menu for a clicked node. */
export type MenuButtons = NonNullable<Parameters<typeof FlameGraph>[0]['getExtraContextMenuButtons']>;

interface Props {
  data: DataFrame;
  theme: GrafanaTheme2;
  /** The graph above its table (the comparison's narrow panes). */
  vertical?: boolean;
  /** Shown in the widget's header, right of its buttons. */
  extra?: ReactNode;
  /** Extra context-menu entries (a stable function, or the graph renders again). */
  menu?: MenuButtons;
}

export const Graph = memo(function Graph({ data, theme, vertical, extra, menu }: Props) {
  const getTheme = useCallback(() => theme, [theme]);
  return (
    <FlameGraph
      data={data}
      getTheme={getTheme}
      vertical={vertical}
      extraHeaderElements={extra}
      getExtraContextMenuButtons={menu}
    />
  );
});
