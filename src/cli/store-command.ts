export async function storeCommand(_command: string, _argv: string[]): Promise<number> {
  return 0;
}
