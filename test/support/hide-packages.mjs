/**
 * `node --import ./test/support/hide-packages.mjs`: the packages named in
 * TESSERA_TEST_HIDE_PACKAGES (comma-separated) fail to resolve as a missing package
 * does (ERR_MODULE_NOT_FOUND, "Cannot find package 'NAME'"), so a test sees what a
 * project without an optional peer sees, without uninstalling it.
 */
import { register } from 'node:module';

const hook = `
const hidden = new Set((process.env.TESSERA_TEST_HIDE_PACKAGES ?? '').split(',').filter(Boolean));
export async function resolve(specifier, context, next) {
  if (hidden.has(specifier)) {
    const e = new Error("Cannot find package '" + specifier + "' imported from " + context.parentURL);
    e.code = 'ERR_MODULE_NOT_FOUND';
    throw e;
  }
  return next(specifier, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
