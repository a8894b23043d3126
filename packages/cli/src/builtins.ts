import { efficientnetb0, mobilenetv2, mobilenetv3large, mobilenetv3small, resnet50, resnet50v2 } from '@headbench/backbones';
import type { PluginRegistry } from '@headbench/core';
import { flatten } from '@headbench/heads-flatten';
import { gap } from '@headbench/heads-gap';
import { gmp } from '@headbench/heads-gmp';
import { adam, adamw, rmsprop, sgd } from '@headbench/trainers';

/** The plugins every run can name without `--plugin`, with the package each comes from. */
export const BUILTINS = [
  [mobilenetv2, '@headbench/backbones'],
  [mobilenetv3small, '@headbench/backbones'],
  [mobilenetv3large, '@headbench/backbones'],
  [efficientnetb0, '@headbench/backbones'],
  [resnet50, '@headbench/backbones'],
  [resnet50v2, '@headbench/backbones'],
  [gap, '@headbench/heads-gap'],
  [flatten, '@headbench/heads-flatten'],
  [gmp, '@headbench/heads-gmp'],
  [sgd, '@headbench/trainers'],
  [adam, '@headbench/trainers'],
  [adamw, '@headbench/trainers'],
  [rmsprop, '@headbench/trainers'],
] as const;

export function registerBuiltins(registry: PluginRegistry): void {
  for (const [factory, source] of BUILTINS) registry.register(factory, source);
}
