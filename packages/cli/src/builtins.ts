import { efficientnetb0, mobilenetv2, mobilenetv3large, mobilenetv3small, resnet50, resnet50v2 } from '@headbench/backbones';
import type { PluginRegistry } from '@headbench/core';
import { flatten } from '@headbench/heads-flatten';
import { gap } from '@headbench/heads-gap';
import { gmp } from '@headbench/heads-gmp';
import { avgmax } from '@headbench/heads-avgmax';
import { mlp } from '@headbench/heads-mlp';
import { gdconv } from '@headbench/heads-gdconv';
import { se } from '@headbench/heads-se';
import { gem } from '@headbench/heads-gem';
import { lse } from '@headbench/heads-lse';
import { attention } from '@headbench/heads-attention';
import { bilinear } from '@headbench/heads-bilinear';
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
  [avgmax, '@headbench/heads-avgmax'],
  [mlp, '@headbench/heads-mlp'],
  [gdconv, '@headbench/heads-gdconv'],
  [se, '@headbench/heads-se'],
  [gem, '@headbench/heads-gem'],
  [lse, '@headbench/heads-lse'],
  [attention, '@headbench/heads-attention'],
  [bilinear, '@headbench/heads-bilinear'],
  [sgd, '@headbench/trainers'],
  [adam, '@headbench/trainers'],
  [adamw, '@headbench/trainers'],
  [rmsprop, '@headbench/trainers'],
] as const;

export function registerBuiltins(registry: PluginRegistry): void {
  for (const [factory, source] of BUILTINS) registry.register(factory, source);
}
