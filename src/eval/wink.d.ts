// wink-bm25-text-search and wink-nlp-utils ship no types: the little of them that the CISI comparison uses.
declare module 'wink-bm25-text-search' {
  type WinkEngine = {
    defineConfig(config: { fldWeights: Record<string, number> }): void;
    definePrepTasks(tasks: Array<(input: never) => unknown>): void;
    addDoc(doc: Record<string, string>, id: string): void;
    consolidate(): void;
    search(text: string, limit?: number): Array<[string, number]>;
  };
  const bm25: () => WinkEngine;
  export default bm25;
}

declare module 'wink-nlp-utils' {
  type Task = (input: never) => unknown;
  const nlp: {
    string: { lowerCase: Task; tokenize0: Task };
    tokens: { removeWords: Task; stem: Task; propagateNegations: Task };
  };
  export default nlp;
}
