// The package ships no types: one CommonJS function from a lowercase English word to its stem.
declare module 'wink-porter2-stemmer' {
  const stem: (word: string) => string;
  export default stem;
}
