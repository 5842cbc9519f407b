// What a page is: its path's data (a JSON endpoint, and which version in the event stream says it changed)
// and how it is drawn. The server is this page's own origin and build, so its answer is taken as typed.
import type { VersionsEvent } from '../model.js';

export interface Page {
  id: string;
  title: string;
  endpoint: string;
  resource: keyof VersionsEvent;
  render(data: unknown, reload: () => void): Node;
}

export function definePage<T>(p: { id: string; title: string; endpoint: string; resource: keyof VersionsEvent; render(data: T, reload: () => void): Node }): Page {
  return { ...p, render: (data, reload) => p.render(data as T, reload) };
}
