// Debian's Chromium through playwright-core, launched as every browser test and benchmark
// here launches it (a browser download does not work on these machines).
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: process.env.FLAMELET_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    // Debian's Chromium as root needs no sandbox; the rest keeps it off the (closed) network.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
