/**
 * kumiki's English stop words, version 1: function words only (articles, pronouns, auxiliaries,
 * prepositions, conjunctions, a few very common adverbs and determiners). Content words such as
 * "information" or "system" are never listed: whether they matter is for IDF to decide.
 *
 * Changing this list changes the vectors, so it is versioned (`english-v1` in the embedding space).
 */
export const ENGLISH_STOPWORDS_ID = 'english-v1';

export const ENGLISH_STOPWORDS: readonly string[] = `
  a an the this that these those some any each every either neither
  such own same other another all both few more most much many several
  i me my mine myself we us our ours ourselves you your yours
  yourself yourselves he him his himself she her hers herself it its
  itself they them their theirs themselves one ones what which who whom
  whose whatever whichever whoever
  am is are was were be been being have has had having do does
  did doing done will would shall should can could may might must ought
  about above across after against along among amongst around as at before
  behind below beneath beside besides between beyond by down during except
  for from in inside into near of off on onto out outside over per
  since than through throughout till to toward towards under underneath until
  unto up upon via with within without
  and or nor but yet so if then else because although though while
  whilst whereas whether unless once
  also again further furthermore however here there where when why how
  very too just only even ever still already quite rather thus hence
  therefore now often not no
  i'm i've i'd i'll you're you've you'd you'll he's he'd he'll she's she'd she'll it's
  we're we've we'd we'll they're they've they'd they'll that's there's what's who's let's
  isn't aren't wasn't weren't hasn't haven't hadn't doesn't don't didn't won't wouldn't
  shan't shouldn't can't cannot couldn't mustn't
`
  .split(/\s+/)
  .filter((word) => word.length > 0);
