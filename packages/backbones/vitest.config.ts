import { bothKernelFamilies } from '../../vitest.shared.js';

export default bothKernelFamilies();
