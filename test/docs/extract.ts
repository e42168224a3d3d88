/**
 * The fenced code blocks of the README and docs/*.md, and the rules that say
 * how each one is checked (test/docs/docs.test.ts runs them).
 *
 * A block's info string is its language, then optional words:
 *   ```sh                       runs (the shell blocks of one `##` section run in order, in one shell)
 *   ```python id=pyjwt-hs256    runs, and the test's driver of that id checks what it defines
 *   ```sh no-run: REASON        is not meant to run; the reason is required and says why
 *   ```sh install=NAME          an install line: test/package/readme-install.test.ts runs it
 * An HTML comment on the line before the fence, `<!-- name -->`, names a block as `id=name` does.
 * GitHub and other renderers read only the first word, so the marks stay out of sight.
 * Blocks without a language, or in `text`/`json`/`http`, are listings (usage lines,
 * key layouts, answers): not code. JSON blocks must parse.
 *
 * In shell blocks, a comment line `# => TEXT` right after a command (or a trailing
 * `# => TEXT` on its last line) is the command's documented stdout; `…` in it stands
 * for any text. Several `# =>` lines are several output lines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SHELL = new Set(['sh', 'bash', 'shell']);
export const PYTHON = new Set(['python', 'py']);
export const TYPESCRIPT = new Set(['ts', 'typescript']);
/** Listings: shown, never run. */
export const LISTING = new Set(['', 'text', 'json', 'http']);

export interface Block {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  /** The level-2 heading the block is under ('' before the first): shell blocks run per section. */
  section: string;
  /** `id=...` of the info string, if any. */
  id?: string;
  /** The reason after `no-run`, when the block is marked not to run ('' when the reason is missing). */
  noRun?: string;
  code: string;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^`]*)$/;

export function extractBlocks(markdown: string, file: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.*)$/.exec(lines[i]!);
    if (heading) section = heading[1]!.trim();
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j]!;
      if (l.trim().startsWith(fence[0]!.repeat(fence.length)) && l.trim().replace(/[`~]/g, '') === '') break;
      body.push(l.startsWith(indent) ? l.slice(indent.length) : l.trimStart());
    }
    const words = info.trim().split(/\s+/).filter(Boolean);
    const lang = (words[0] ?? '').toLowerCase();
    const block: Block = { file, line: i + 1, lang, section, code: body.join('\n') };
    const rest = info.trim().slice(lang.length).trim();
    const id = /(?:^|\s)id=(\S+)/.exec(rest);
    // An HTML comment right before the fence (`<!-- name -->`) names the block too.
    const comment = /^\s*<!--\s*([\w-]+)\s*-->\s*$/.exec(lines[i - 1] ?? '');
    if (id) block.id = id[1]!;
    else if (comment) block.id = comment[1]!;
    const noRun = /(?:^|\s)no-run\b:?\s*(.*)$/.exec(rest);
    if (noRun) block.noRun = noRun[1]!.trim();
    // The install lines run from the packed package in empty projects, not here.
    const install = /(?:^|\s)install=(\S+)/.exec(rest);
    if (install) block.noRun = `test/package/readme-install.test.ts runs it (install=${install[1]})`;
    blocks.push(block);
    i = j;
  }
  return blocks;
}

/** README.md and docs/*.md, in that order. */
export function docFiles(root: string): string[] {
  return [
    'README.md',
    ...readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ];
}

export function blocksOf(root: string, file: string): Block[] {
  return extractBlocks(readFileSync(join(root, file), 'utf8'), file);
}

// ---------------------------------------------------------------------------
// Shell blocks: commands and their documented output.

export interface Step {
  /** 1-based line in the Markdown file. */
  line: number;
  code: string;
  /** The documented stdout (lines of `# =>`), or undefined when the doc states none. */
  expected?: string[];
}

const EXPECT = /^#\s*=>\s?(.*)$/;
const TRAILING_EXPECT = /\s#\s*=>\s?(.*)$/;

/** Whether a shell text leaves a quote, a brace group, a subshell or a line continuation open. */
function isOpen(text: string): boolean {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '\\') {
      if (i === text.length - 1) return true;
      i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
    } else if (c === '{' || c === '(') depth++;
    else if (c === '}' || c === ')') depth--;
  }
  return quote !== null || depth > 0 || /\\$/.test(text) || /(\||&&|\|\|)\s*$/.test(text);
}

/**
 * Splits a shell block into steps: one command each (a line, or the lines a
 * continuation, quote, group or here-document holds together), with the
 * `# =>` output documented for it.
 */
export function shellSteps(block: Block): Step[] {
  const lines = block.code.split('\n');
  const steps: Step[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    const trimmed = line.trim();
    if (trimmed === '') {
      i++;
      continue;
    }
    if (trimmed.startsWith('#')) {
      if (EXPECT.test(trimmed)) throw new Error(`${block.file}:${block.line + 1 + i}: "# =>" without a command before it`);
      i++;
      continue;
    }
    const start = i;
    let text = line;
    const heredoc = /<<-?\s*'?"?(\w+)'?"?/.exec(line);
    i++;
    if (heredoc) {
      while (i < lines.length && lines[i]!.trim() !== heredoc[1]) text += `\n${lines[i++]}`;
      if (i < lines.length) text += `\n${lines[i++]}`;
    } else {
      while (i < lines.length && isOpen(text)) text += `\n${lines[i++]}`;
    }
    const step: Step = { line: block.line + 1 + start, code: text };
    const lastLine = text.split('\n').at(-1)!;
    const trailing = heredoc ? null : TRAILING_EXPECT.exec(lastLine);
    const expected: string[] = [];
    if (trailing) expected.push(trailing[1]!.trimEnd());
    while (i < lines.length && EXPECT.test(lines[i]!.trim())) expected.push(EXPECT.exec(lines[i++]!.trim())![1]!.trimEnd());
    if (expected.length > 0) step.expected = expected;
    steps.push(step);
  }
  return steps;
}

/**
 * Whether `actual` matches the documented output: line by line after trimming
 * trailing space (and the whole of both), `…` standing for any text (also none).
 */
export function matchesExpected(expected: string[], actual: string): boolean {
  const pattern = expected
    .join('\n')
    .trim()
    .split('\n')
    .map((l) =>
      l
        .split('…')
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('[\\s\\S]*?'),
    )
    .join('\n');
  const text = actual
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .trim();
  return new RegExp(`^${pattern}$`).test(text);
}
