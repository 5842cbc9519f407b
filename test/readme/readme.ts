// Reading the README as a newcomer does: one `## ` section, and its ```sh blocks as written.

/** The text of the `## <title>` section, up to the next `## ` heading. */
export function readmeSection(markdown: string, title: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${title}`);
  if (start < 0) throw new Error(`README has no "## ${title}" section`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The ```sh (or ```bash) blocks of a text, in order, verbatim. */
export function shellBlocks(text: string): string[] {
  const out: string[] = [];
  const re = /^```(?:sh|bash|shell)\n([\s\S]*?)^```$/gm;
  for (const m of text.matchAll(re)) out.push(m[1]);
  return out;
}
