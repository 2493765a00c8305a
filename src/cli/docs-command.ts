import { writeFile } from 'node:fs/promises';
import { errorsMarkdown } from '../error-docs.js';

/** `custos docs errors [FILE]`: regenerate docs/errors.md from the error catalog. */
export async function docsCommand(argv: string[]): Promise<number> {
  const [what, file = 'docs/errors.md'] = argv;
  if (what !== 'errors') {
    console.error('usage: custos docs errors [FILE]');
    return 2;
  }
  await writeFile(file, errorsMarkdown());
  console.log(`wrote ${file}`);
  return 0;
}
