export interface Report {
  counted: number;
  unreadable: number;
  /** CPU time of the file's process, when its report is complete. */
  cpuMs: number | undefined;
  /** CPU time of the processes it spawned and waited for (Linux), when its report is complete. */
  childrenCpuMs: number | undefined;
  failures: { name: string; error: string }[];
  summary: Record<string, number> | undefined;
}
export function parseReport(text: string): Report;
export function readReport(path: string): Report;
export function problemsOf(
  report: Report,
  end: { code: number | null; signal: string | null; timedOut: boolean; timeoutSeconds: number },
): string[];
