// Dependency rules for src/, generated from scripts/layers.mjs (the layer order). Run by `npm test`
// through `npm run check:architecture`; any import against the order fails the run.
import { CORE_PACKAGES, LAYERS, NODE_ONLY } from './scripts/layers.mjs';

const either = (paths) => (paths.length === 1 ? paths[0] : `(${paths.map((path) => `(?:${path})`).join('|')})`);

const layerRules = LAYERS.flatMap((layer, index) => {
  const above = LAYERS.slice(index + 1).flatMap((higher) => higher.units.map((unit) => unit.path));
  return layer.units.flatMap((unit) => {
    const peers = layer.units.filter((other) => other !== unit).map((other) => other.path);
    const rules = [];
    if (above.length > 0) {
      rules.push({
        name: `${layer.name}: ${unit.name} imports no higher layer`,
        comment: `${unit.name} is in layer "${layer.name}"; it may import only its own layer's unit and the layers below (scripts/layers.mjs).`,
        severity: 'error',
        from: { path: unit.path },
        to: { path: either(above) },
      });
    }
    if (peers.length > 0) {
      rules.push({
        name: `${layer.name}: ${unit.name} imports no other unit of its layer`,
        comment: `units of layer "${layer.name}" are independent of each other; move what they share one layer down.`,
        severity: 'error',
        from: { path: unit.path },
        to: { path: either(peers) },
      });
    }
    return rules;
  });
});

const corePaths = either(LAYERS.slice(0, 2).flatMap((layer) => layer.units.map((unit) => unit.path)));

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...layerRules,
    {
      name: 'src outside the layers',
      comment: 'every module of src/ belongs to a unit of scripts/layers.mjs; add the new folder there.',
      severity: 'error',
      from: {
        path: '^src/',
        pathNot: [either(LAYERS.flatMap((layer) => layer.units.map((unit) => unit.path))), '\\.d\\.ts$'],
      },
      to: {},
    },
    {
      name: 'core and filter import only zod',
      severity: 'error',
      from: { path: corePaths },
      to: { dependencyTypes: ['npm', 'npm-peer', 'npm-optional', 'npm-dev', 'core', 'npm-no-pkg', 'npm-unknown'], pathNot: `node_modules/(${CORE_PACKAGES.join('|')})/` },
    },
    {
      name: 'node built-ins only in Node-only modules',
      comment: 'everything else must run in any JavaScript runtime; list a Node-only module in NODE_ONLY (scripts/layers.mjs).',
      severity: 'error',
      from: { path: '^src/', pathNot: either(NODE_ONLY.map((entry) => entry.path)) },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'no cycles',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no unresolvable imports',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    moduleSystems: ['es6', 'cjs'],
  },
};
