import os from 'node:os';
import { chromium, type Browser } from 'playwright-core';
import { findChromium, missingChromium } from '../helpers/chromium.ts';
import { onCleanup } from './lib.ts';

/** The dashboard benchmarks' browser: headless Chromium, closed at cleanup. */
export async function launchBenchBrowser(benchmark: string): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error(missingChromium(benchmark));
  const browser = await chromium.launch({
    executablePath,
    args: os.userInfo().uid === 0 ? ['--no-sandbox'] : [],
  });
  const unregister = onCleanup(async () => {
    unregister();
    await browser.close();
  });
  return browser;
}
