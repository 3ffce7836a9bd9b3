// Words of CUB-style bird captions: the vocabulary `dfgan init` uses when no captions are given, so a fresh
// checkpoint reads typical captions. Trained checkpoints carry the vocabulary of their own data instead.
export const DEFAULT_WORDS: readonly string[] = `
a an the this that these it its is are has have with and or but of on in at to from as by for very
bird birds small medium large tiny big little short long thin thick pointed curved sharp stubby
body head crown nape throat breast belly chest back wing wings wingbars tail feathers beak bill eye eyes
eyering eyebrow cheek cheeks neck side sides rump flank flanks leg legs feet tarsus primaries secondaries
coverts rectrices superciliary malar crest patch patches stripe stripes spot spots mark marks markings
black white grey gray brown red orange yellow green blue purple pink buff tan olive rust cream golden
dark light bright pale dull deep vivid mostly entirely all over some few mixed speckled striped spotted
colored coloured colorful colourful multicolored plumage shades shade tint
left right facing perched sitting standing flying branch tree sky water grass ground leaves background
`
  .split(/\s+/)
  .filter((w) => w.length > 0);
