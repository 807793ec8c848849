export { seededRandom } from '../internal/random.js';
