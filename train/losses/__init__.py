"""corrwise.train.losses: the correspondence-wise loss, its base losses and flow regularisers."""

from corrwise.train.losses.base import BASE_LOSSES, MeanLoss, build_base_loss, list_base_losses
from corrwise.train.losses.census import CensusLoss
from corrwise.train.losses.corrwise import CorrWise
from corrwise.train.losses.pixel import CharbonnierLoss, L1Loss, MSELoss
from corrwise.train.losses.ssim import MSSSIMLoss, SSIMLoss, ms_ssim, ssim
from corrwise.train.losses.vgg import VGGLoss

__all__ = [
    "BASE_LOSSES",
    "CensusLoss",
    "CharbonnierLoss",
    "CorrWise",
    "L1Loss",
    "MSELoss",
    "MSSSIMLoss",
    "MeanLoss",
    "SSIMLoss",
    "VGGLoss",
    "build_base_loss",
    "list_base_losses",
    "ms_ssim",
    "ssim",
]
